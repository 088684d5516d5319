import { execFileSync } from "node:child_process";
import os from "node:os";
import type { Database } from "@evpipe/db";
import { type Kysely, sql } from "kysely";
import { natsServerBinary } from "../support/processes.ts";
import { startCpuSampler } from "./process-stats.ts";
import { formatMiB } from "./report.ts";

/** What the numbers depend on: the machine, and the versions and settings of the servers. */
export async function describeEnvironment(db: Kysely<Database>, natsVersion: string | undefined): Promise<string> {
  const { rows } = await sql<{ version: string; syncCommit: string; sharedBuffers: string }>`
    SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS "syncCommit",
      current_setting('shared_buffers') AS "sharedBuffers"`.execute(db);
  const cpus = os.cpus();
  return (
    `evpipe end-to-end benchmark, everything on this machine: ${cpus.length} CPUs (${cpus[0]?.model ?? "unknown"}), ` +
    `${formatMiB(os.totalmem())} RAM, node ${process.version}, PostgreSQL ${rows[0]?.version} ` +
    `(synchronous_commit=${rows[0]?.syncCommit}, shared_buffers=${rows[0]?.sharedBuffers}), ` +
    `NATS ${natsVersion ?? "unknown"}, load average before the run ${os
      .loadavg()
      .map((load) => load.toFixed(2))
      .join(" ")}`
  );
}

/** The machine's busy share over one second with the pipeline idle: other work that competes with the run. */
export async function backgroundMachineBusy(): Promise<number> {
  const idle = startCpuSampler({});
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return idle.stop().machineBusy;
}

/** The version of the nats-server binary the bench starts servers of its own from. */
export function natsBinaryVersion(): string {
  const output = execFileSync(natsServerBinary(), ["--version"], { encoding: "utf8" });
  return /v?(\d+\.\d+\.\d+\S*)/.exec(output)?.[1] ?? output.trim();
}
