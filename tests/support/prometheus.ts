import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.ts";
import { waitFor } from "./wait-for.ts";

const repoRoot = path.resolve(import.meta.dirname, "..", "..");

/** The rules file operators load as it is, and its promtool unit tests. */
export const alertRulesFile = path.join(repoRoot, "observability", "prometheus", "alerts.yml");
export const alertRulesTestFile = path.join(repoRoot, "observability", "prometheus", "alerts.test.yml");

const missingBinaryHint =
  "is not installed: it comes with the Debian package `prometheus` (apt-get install prometheus), which .ci/run installs";

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs promtool to completion, with `input` on its stdin; a missing binary fails with how to get it. */
export function runPromtool(args: string[], input?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile("promtool", args, { cwd: repoRoot, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        reject(new Error(`promtool ${missingBinaryHint}`));
        return;
      }
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(input ?? "");
  });
}

export interface ScrapeTargets {
  /** host:port of the gateway (its PORT) and of the consumer (its HEALTH_PORT). */
  gateway: string;
  consumer: string;
}

/** The scrape configuration of the test: 1 s scrapes and evaluations, the two jobs the rules expect. */
function prometheusConfig(targets: ScrapeTargets): string {
  // JSON is YAML, so no YAML writer is needed.
  return JSON.stringify(
    {
      global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
      rule_files: [alertRulesFile],
      scrape_configs: [
        { job_name: "evpipe-gateway", static_configs: [{ targets: [targets.gateway] }] },
        { job_name: "evpipe-consumer", static_configs: [{ targets: [targets.consumer] }] },
      ],
    },
    null,
    2,
  );
}

export interface RunningPrometheus {
  url: string;
  /** GET /api/v1/<apiPath>; fails unless Prometheus answers status "success", with the body in the message. */
  api<T>(apiPath: string): Promise<T>;
  /** An instant query's result vector. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Kills the server and removes its configuration and storage. */
  stop(): Promise<void>;
}

async function launch(dir: string, port: number): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(
    "prometheus",
    [
      `--config.file=${path.join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "ENOENT" ? new Error(`prometheus ${missingBinaryHint}`) : err),
    );
  });
  await spawned;
  return { child, output: () => output };
}

/** Starts the `prometheus` binary on a free port with a throwaway configuration and storage. */
export async function startPrometheus(targets: ScrapeTargets): Promise<RunningPrometheus> {
  const dir = mkdtempSync(path.join(tmpdir(), "evp-prometheus-"));
  writeFileSync(path.join(dir, "prometheus.yml"), prometheusConfig(targets));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    const proc = child;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      proc.kill("SIGKILL");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const started = await launch(dir, port);
    child = started.child;
    const proc = started.child;
    await waitFor(
      "prometheus to be ready",
      async () => {
        if (proc.exitCode !== null) throw new Error(`prometheus exited with ${proc.exitCode}: ${started.output()}`);
        const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) });
        return res.ok;
      },
      { timeoutMs: 20_000 },
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const api = async <T>(apiPath: string): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${apiPath}`, { signal: AbortSignal.timeout(5_000) });
    const text = await res.text();
    const body = JSON.parse(text) as { status: string; data: T };
    if (!res.ok || body.status !== "success") throw new Error(`GET /api/v1/${apiPath}: ${res.status} ${text}`);
    return body.data;
  };
  return {
    url,
    api,
    async query(expr) {
      const data = await api<{
        resultType: string;
        result: Array<{ metric: Record<string, string>; value: [number, string] }>;
      }>(`query?query=${encodeURIComponent(expr)}`);
      return data.result;
    },
    stop,
  };
}
