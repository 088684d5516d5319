import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { createInterface } from "node:readline";
import { createDb, dropDatabase } from "@evpipe/db";
import { generateApiKey, natsNames, openKeysBucket, projectStreams, storeKeyRecord } from "@evpipe/shared";
import { sql } from "kysely";
import { connect } from "nats";
import { afterAll, describe, expect, inject, it } from "vitest";
import { postJson } from "./support/http.ts";
import { uniqueId } from "./support/pipeline.ts";
import { waitFor } from "./support/wait-for.ts";

const repoRoot = path.resolve(import.meta.dirname, "..");
const namespace = uniqueId("st");
const names = natsNames(namespace);
const databaseUrl = (() => {
  const url = new URL(inject("databaseUrl"));
  url.pathname = `/evp_${namespace}`;
  return url.toString();
})();

// Process groups to kill if the test fails half-way: pnpm's, and each service's (the supervisor gives them
// groups of their own, so killing pnpm's group would not reach them).
const groups: number[] = [];

afterAll(async () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  const nc = await connect({ servers: inject("natsUrl") });
  const jsm = await nc.jetstreamManager();
  const { streams, buckets } = projectStreams(namespace);
  for (const stream of [...streams, ...buckets.map((bucket) => `KV_${bucket}`)]) {
    await jsm.streams.delete(stream).catch(() => undefined);
  }
  await nc.close();
  await dropDatabase(databaseUrl);
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const childPids = (pid: number) =>
  execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
    .split("\n")
    .map((line) => Number(line.trim()))
    .filter((child) => child > 0);

describe("pnpm start", () => {
  it("creates and migrates the database, provisions the streams, serves, and stops cleanly on Ctrl-C", async () => {
    // Its own process group, as a terminal's foreground job: the SIGINT below goes to the whole group.
    const pnpm = spawn("pnpm", ["start"], {
      cwd: repoRoot,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        NATS_URL: inject("natsUrl"),
        DATABASE_URL: databaseUrl,
        NATS_NAMESPACE: namespace,
        EVENTS_MAX_BYTES: String(512 * 1024 ** 2),
        PORT: "0",
        HEALTH_PORT: "0",
        LOG_LEVEL: "info",
        // With a secrets key, destinations can exist, so the forwarder runs too.
        DESTINATION_SECRETS_KEY: randomBytes(32).toString("base64"),
      },
    });
    let output = "";
    const lines: Array<Record<string, unknown>> = [];
    createInterface({ input: pnpm.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      output += `${line}\n`;
      if (line.startsWith("{")) lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    pnpm.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    groups.push(pnpm.pid as number);
    // "close": pnpm's last output lines are read by then.
    const exited = new Promise<number | null>((resolve) => pnpm.once("close", (code) => resolve(code)));
    const port = (msg: string, service?: string) =>
      waitFor(`${service ?? ""} ${msg}`, () => {
        if (pnpm.exitCode !== null) throw new Error(`pnpm start exited with ${pnpm.exitCode}: ${output}`);
        const line = lines.find((l) => l.msg === msg && (service === undefined || l.service === service));
        return line?.port as number | undefined;
      });
    const [gatewayPort, consumerPort, forwarderPort] = await Promise.all([
      port("gateway listening"),
      port("health listening", "consumer"),
      port("health listening", "forwarder"),
    ]);
    for (const supervisorPid of childPids(pnpm.pid as number)) groups.push(...childPids(supervisorPid));
    for (const url of [gatewayPort, consumerPort, forwarderPort].map((p) => `http://127.0.0.1:${p}/readyz`)) {
      await waitFor(`${url} to answer 200`, async () => (await fetch(url)).status === 200);
    }
    expect(lines.find((line) => line.service === "migrate")).toMatchObject({ createdDatabase: true });

    const nc = await connect({ servers: inject("natsUrl") });
    const db = createDb({ url: databaseUrl, maxConnections: 1, applicationName: "evpipe-tests" });
    try {
      const jsm = await nc.jetstreamManager();
      for (const stream of [names.eventsStream, names.dlqStream]) {
        expect((await jsm.streams.info(stream)).config.name).toBe(stream);
      }
      const { key, record } = generateApiKey({ name: "start-test", scopes: ["ingest"] });
      await storeKeyRecord(await openKeysBucket(nc.jetstream(), names.keysBucket), record);
      const accepted = await waitFor("the event to be accepted", async () => {
        const res = await postJson(
          `http://127.0.0.1:${gatewayPort}`,
          "/v1/events",
          { event: "first_contact", user_id: "u-1" },
          { "x-api-key": key },
        );
        return res.status === 202 ? (res.body as { id: string }) : undefined;
      });
      const stored = await waitFor("the event to be stored", async () => {
        const { rows } = await sql<{ event: string }>`SELECT event FROM events WHERE id = ${accepted.id}`.execute(db);
        return rows[0];
      });
      expect(stored.event).toBe("first_contact");
    } finally {
      await nc.close();
      await db.destroy();
    }

    // pnpm -> the supervisor -> gateway, consumer and forwarder: one supervisor, three services, no wrappers.
    const [supervisor, ...others] = childPids(pnpm.pid as number);
    expect(others).toEqual([]);
    const services = childPids(supervisor as number);
    expect(services).toHaveLength(3);

    process.kill(-(pnpm.pid as number), "SIGINT");
    expect(await exited, output).toBe(0);
    expect(output).not.toMatch(/ELIFECYCLE|Command failed/);
    expect(output).not.toContain("second signal");
    expect(
      lines
        .filter((line) => line.msg === "shutdown complete")
        .map((line) => line.service)
        .sort(),
    ).toEqual(["consumer", "forwarder", "gateway"]);
    for (const pid of [supervisor as number, ...services]) expect(alive(pid), `pid ${pid} is left`).toBe(false);
  });
});
