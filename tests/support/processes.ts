import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { waitFor } from "./wait-for.ts";

const repoRoot = path.resolve(import.meta.dirname, "..", "..");

export interface LogLine {
  msg?: string;
  level?: string;
  [field: string]: unknown;
}

export interface RunningService {
  child: ChildProcess;
  /** Every JSON log line the process printed so far. */
  lines: LogLine[];
  /** The gateway's base URL, or the consumer's or forwarder's health endpoint. */
  url: string;
  /** The first line `predicate` takes; it gets each line's index too, to look only past a mark. */
  waitForLog(what: string, predicate: (line: LogLine, index: number) => boolean, timeoutMs?: number): Promise<LogLine>;
  exited: Promise<number | null>;
  /** SIGTERM, and wait for the exit code. */
  stop(): Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

export type ServiceName = "gateway" | "consumer" | "forwarder";

/** Starts `node services/<name>/src/main.ts` as its own process, exactly as `pnpm start:<name>` does. */
export async function startService(
  name: ServiceName,
  env: Record<string, string>,
  options: {
    readyTimeoutMs?: number;
    /** Once the service is ready, a line this refuses is dropped unparsed (a harness that wants only warnings). */
    keepLine?: (raw: string) => boolean;
  } = {},
): Promise<RunningService> {
  const child = spawn(process.execPath, [path.join(repoRoot, "services", name, "src", "main.ts")], {
    env: { ...process.env, PORT: "0", HEALTH_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: LogLine[] = [];
  const stderr: string[] = [];
  let keepLine = (_raw: string) => true;
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    if (!keepLine(line)) return;
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      lines.push({ msg: line });
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  // "close", not "exit": only then has all of stdout been read, the lines a service logs as it exits included.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });

  const waitForLog = (what: string, predicate: (line: LogLine, index: number) => boolean, timeoutMs = 20_000) =>
    waitFor(
      `${name} to log ${what}`,
      () => {
        if (exitCode !== undefined) {
          const last = lines.slice(-5).map((line) => line.msg);
          throw new Error(
            `${name} exited with ${exitCode}: ${stderr.join("")}; its last log lines: ${JSON.stringify(last)}`,
          );
        }
        return lines.find(predicate);
      },
      { timeoutMs },
    );

  const ready = await waitForLog(
    "readiness",
    (line) => line.msg === "gateway listening" || line.msg === "health listening",
    options.readyTimeoutMs,
  );
  if (options.keepLine) keepLine = options.keepLine;
  const kill = async (signal: NodeJS.Signals) => {
    if (exitCode === undefined) child.kill(signal);
    return exited;
  };
  return {
    child,
    lines,
    url: `http://127.0.0.1:${ready.port as number}`,
    waitForLog,
    exited,
    stop: () => kill("SIGTERM"),
    kill,
  };
}

export function natsServerBinary(): string {
  return process.env.NATS_SERVER_BIN ?? (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server");
}

export interface ThrowawayNats {
  url: string;
  port: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same store. */
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

/** A private nats-server with JetStream on a temporary store, for tests that kill it. */
export async function startNatsServer(): Promise<ThrowawayNats> {
  const storeDir = mkdtempSync(path.join(tmpdir(), "evp-nats-"));
  let child: ChildProcess | undefined;
  let port = -1;

  async function launch(): Promise<void> {
    const proc = spawn(natsServerBinary(), ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    let output = "";
    proc.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    await waitFor(
      "nats-server to start",
      () => {
        if (proc.exitCode !== null) throw new Error(`nats-server exited: ${output}`);
        const match = /Listening for client connections on [^\s]+:(\d+)/.exec(output);
        if (!match || !/Server is ready/.test(output)) return false;
        port = Number(match[1]);
        return true;
      },
      { timeoutMs: 10_000 },
    );
  }

  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill(signal);
    await exited;
  };

  await launch();
  return {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    kill,
    async restart() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      await launch();
    },
    async cleanup() {
      await kill();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

export interface OpsResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ServiceRun {
  code: number | null;
  /** Its JSON log lines; a line that is not JSON is kept as `{ msg: line }`. */
  lines: LogLine[];
  stdout: string;
  stderr: string;
}

/** Runs `node services/<name>/src/main.ts` to its own end: for a start that must fail, and how it fails. */
export function runService(name: ServiceName, env: Record<string, string>): Promise<ServiceRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [path.join(repoRoot, "services", name, "src", "main.ts")],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (_err, stdout, stderr) => {
        const lines = stdout
          .split("\n")
          .filter((line) => line !== "")
          .map((line): LogLine => {
            try {
              return JSON.parse(line) as LogLine;
            } catch {
              return { msg: line };
            }
          });
        resolve({ code: child.exitCode, lines, stdout, stderr });
      },
    );
  });
}

/** Starts `pnpm ops ARGS` without waiting for it, for tests that interrupt it. */
export function spawnOps(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [path.join(repoRoot, "services", "ops", "src", "main.ts"), ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Runs `pnpm ops ARGS` (node services/ops/src/main.ts) and collects its output and exit code. */
export function runOps(args: string[], env: Record<string, string>): Promise<OpsResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(repoRoot, "services", "ops", "src", "main.ts"), ...args],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
