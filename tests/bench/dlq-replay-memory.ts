import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { defaultStreamSettings, natsNames, provisionStreams } from "@evpipe/shared";
import { connect, type JetStreamManager } from "nats";
import { publishDeadLetters } from "../support/dead-letters.ts";

// Peak RSS of `pnpm ops dlq replay --all` (and of its --dry-run) over a DLQ of DLQ_BENCH_COUNT dead letters, in a
// private namespace that is deleted afterwards. OPS_ROOT points at another checkout to measure its CLI instead:
//   node tests/bench/dlq-replay-memory.ts
//   OPS_ROOT=/tmp/ops-before node tests/bench/dlq-replay-memory.ts
const progress = (message: string) => process.stderr.write(`dlq-bench: ${message}\n`);

function integerEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number above 0, got "${raw}"`);
  return value;
}

const natsUrl = process.env.NATS_URL || "nats://127.0.0.1:4222";
const count = integerEnv("DLQ_BENCH_COUNT", 100_000);
const inFlight = integerEnv("DLQ_BENCH_IN_FLIGHT", 1000);
const opsRoot = path.resolve(process.env.OPS_ROOT ?? path.join(import.meta.dirname, "..", ".."));
const namespace = `benchdlq${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
const names = natsNames(namespace);

interface Measured {
  peakRssKiB: number;
  seconds: number;
  stdout: string;
}

/** Runs the CLI of OPS_ROOT under `/usr/bin/time -v` and reads its peak RSS. */
function measureOps(args: string[]): Promise<Measured> {
  const dir = mkdtempSync(path.join(tmpdir(), "dlq-bench-"));
  const timeFile = path.join(dir, "time.txt");
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      "/usr/bin/time",
      ["-v", "-o", timeFile, process.execPath, path.join(opsRoot, "services", "ops", "src", "main.ts"), ...args],
      {
        env: { ...process.env, NATS_URL: natsUrl, NATS_NAMESPACE: namespace, LOG_LEVEL: "warn" },
        maxBuffer: 64 * 1024 ** 2,
      },
      (err, stdout, stderr) => {
        const seconds = (Date.now() - started) / 1000;
        try {
          if (err) throw new Error(`ops ${args.join(" ")} failed: ${err.message}\n${stderr}`);
          const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(readFileSync(timeFile, "utf8"));
          if (!match) throw new Error("no peak RSS in /usr/bin/time's report");
          resolve({ peakRssKiB: Number(match[1]), seconds, stdout });
        } catch (failure) {
          reject(failure);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );
  });
}

async function deleteNamespace(jsm: JetStreamManager): Promise<void> {
  for await (const stream of jsm.streams.names()) {
    if (stream.startsWith(`${namespace}_`) || stream.startsWith(`KV_${namespace}_`)) {
      await jsm.streams.delete(stream);
    }
  }
}

const nc = await connect({ servers: natsUrl, name: "dlq-replay-memory" });
const jsm = await nc.jetstreamManager();
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    interrupted = true;
    progress(`${signal}: deleting the namespace ${namespace}`);
    void deleteNamespace(jsm).finally(() => process.exit(130));
  });
}
try {
  await provisionStreams(jsm, names, { ...defaultStreamSettings, eventsMaxBytes: 2 * 1024 ** 3 });
  progress(`filling ${names.dlqStream} with ${count} dead letters`);
  await publishDeadLetters(nc.jetstream(), names, {
    count,
    inFlight,
    onProgress: (published) => progress(`${published} dead letters published`),
  });
  const dlqBytes = (await jsm.streams.info(names.dlqStream)).state.bytes;
  progress(`measuring the CLI of ${opsRoot}`);
  const dryRun = await measureOps(["dlq", "replay", "--all", "--dry-run", "--json"]);
  const replay = await measureOps(["dlq", "replay", "--all", "--json"]);
  const replayed = JSON.parse(replay.stdout) as { messages: number; completed: boolean };
  const [dlqLeft, republished] = await Promise.all([
    jsm.streams.info(names.dlqStream).then((info) => info.state.messages),
    jsm.streams.info(names.eventsStream).then((info) => info.state.messages),
  ]);
  if (replayed.messages !== count || dlqLeft !== 0 || republished !== count) {
    throw new Error(`replayed ${replayed.messages}, ${dlqLeft} left in the DLQ, ${republished} in EVENTS`);
  }
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  process.stdout.write(
    [
      `CLI: ${opsRoot}`,
      `dead letters: ${count} (${(dlqBytes / 1024 ** 2).toFixed(1)} MiB in the stream)`,
      `dlq replay --all --dry-run: peak RSS ${mib(dryRun.peakRssKiB)} MiB, ${dryRun.seconds.toFixed(1)} s`,
      `dlq replay --all:           peak RSS ${mib(replay.peakRssKiB)} MiB, ${replay.seconds.toFixed(1)} s`,
      "",
    ].join("\n"),
  );
} finally {
  if (!interrupted) {
    await deleteNamespace(jsm);
    await nc.drain();
  }
}
