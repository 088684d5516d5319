import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.ts";

/** The directory holding initdb and pg_ctl, or undefined on a machine without a PostgreSQL server install. */
export function postgresBinDir(): string | undefined {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  return versions.map((version) => path.join(root, version, "bin")).find((dir) => existsSync(path.join(dir, "initdb")));
}

export interface ThrowawayPostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  /** A clean shutdown (fast mode: sessions are terminated with 57P01). */
  stop(): void;
  /** A crash: immediate mode, no checkpoint, recovery at the next start. */
  crash(): void;
  start(): void;
  /** SIGSTOP to the server and every backend: connections stay open and nothing answers. */
  freeze(): void;
  thaw(): void;
  cleanup(): void;
}

/**
 * A private PostgreSQL cluster in a temporary directory, for tests that stop the database. PostgreSQL
 * refuses to run as root, so as root it runs as the postgres user.
 */
export async function startPostgresServer(): Promise<ThrowawayPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("no PostgreSQL server binaries (initdb, pg_ctl) on this machine; set PG_BIN");
  const dir = mkdtempSync(path.join(tmpdir(), "evp-pg-"));
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync("chown", ["postgres", dir]);
  const run = (tool: string, args: string[]) => {
    const command = path.join(bin, tool);
    const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
    execFileSync(file, argv, { stdio: "pipe", cwd: tmpdir() });
  };
  run("initdb", ["-D", path.join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const start = () =>
    run("pg_ctl", ["-D", path.join(dir, "data"), "-o", options, "-l", path.join(dir, "log"), "-w", "start"]);
  const stop = () => run("pg_ctl", ["-D", path.join(dir, "data"), "-m", "fast", "-w", "stop"]);
  const serverProcesses = () => {
    const postmaster = readFileSync(path.join(dir, "data", "postmaster.pid"), "utf8").split("\n")[0] as string;
    const children = execFileSync("pgrep", ["-P", postmaster], { encoding: "utf8" }).split("\n").filter(Boolean);
    return [postmaster, ...children].map(Number);
  };
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    crash: () => run("pg_ctl", ["-D", path.join(dir, "data"), "-m", "immediate", "-w", "stop"]),
    freeze() {
      for (const pid of serverProcesses()) process.kill(pid, "SIGSTOP");
    },
    thaw() {
      for (const pid of serverProcesses()) process.kill(pid, "SIGCONT");
    },
    cleanup() {
      try {
        for (const pid of serverProcesses()) process.kill(pid, "SIGCONT");
      } catch {
        // not running
      }
      try {
        stop();
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
