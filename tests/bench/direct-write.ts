import { classifyFailure, createDb, type Database, insertEvents, KnownUsers, storeEvents } from "@evpipe/db";
import type { EnvelopeEvent } from "@evpipe/shared";
import { type Kysely, sql } from "kysely";
import { createTestPipeline } from "../support/pipeline.ts";
import { postgresGroup } from "./phase.ts";
import { pidsNamed, startCpuTotals } from "./process-stats.ts";
import { formatCount } from "./report.ts";
import type { BenchRun } from "./services.ts";
import type { BenchSettings } from "./settings.ts";
import type { Workload } from "./workload.ts";

/** The consumer's write with its rollups (storeEvents), or the bare insert without them (insertEvents). */
export type DirectWrite = "storeEvents" | "insertEvents";

/** The CPU groups of a direct write: the database, and this process making and sending the rows. */
export const inserterGroup = "bench (node inserter)";
export const directCpuGroups = [postgresGroup, inserterGroup];

export interface DirectResult {
  write: DirectWrite;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** CPU seconds of each group over the timed part. */
  cpuSeconds: Record<string, number>;
  /** Statements retried after a transient failure (a deadlock, say), timed part and warm-up. */
  retries: Record<string, number>;
}

/**
 * Writes `events` events from `nextBatch` with `concurrency` writes at once; returns how many were written.
 * A statement that fails transiently (classifyFailure, as the consumer decides) is retried at once, up to 5
 * times, and counted in `retries` by SQLSTATE: the consumer would retry it too, after a delay.
 */
async function writeEvents(
  write: (batch: EnvelopeEvent[]) => Promise<string[]>,
  nextBatch: () => EnvelopeEvent[],
  options: { events: number; concurrency: number; retries: Record<string, number> },
): Promise<number> {
  let left = options.events;
  let written = 0;
  const attempt = async (batch: EnvelopeEvent[], tries: number): Promise<string[]> => {
    try {
      return await write(batch);
    } catch (err) {
      const failure = classifyFailure(err);
      if (failure.kind !== "transient" || tries >= 5) throw err;
      options.retries[failure.code] = (options.retries[failure.code] ?? 0) + 1;
      return attempt(batch, tries + 1);
    }
  };
  const worker = async () => {
    while (left > 0) {
      const batch = nextBatch();
      if (batch.length > left) batch.length = left;
      left -= batch.length;
      // Awaited first: `written += await ...` would read `written` before the await and lose updates.
      const ids = await attempt(batch, 1);
      written += ids.length;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return written;
}

function writer(db: Kysely<Database>, kind: DirectWrite): (batch: EnvelopeEvent[]) => Promise<string[]> {
  if (kind === "insertEvents") return (batch) => insertEvents(db, batch);
  // One memory of users for all connections, as the consumer keeps one for all its writes in flight.
  const known = new KnownUsers();
  return (batch) => storeEvents(db, batch, known);
}

/**
 * The limit the pipeline is measured against: the workload's events written straight into a fresh database
 * by the project's own write path, `concurrency` connections at once (the consumer's default), no HTTP and no
 * NATS. A warm-up of `warmupEvents` first (as many as the end-to-end warm-up stored, so both start from the
 * same table sizes), then `events` timed. Rows are made while the clock runs, by this process: its CPU is
 * reported as the inserter's.
 */
export async function measureDirectWrite(
  run: BenchRun,
  settings: BenchSettings,
  workload: Workload,
  options: { write: DirectWrite; events: number; warmupEvents: number },
): Promise<DirectResult> {
  run.signal.throwIfAborted();
  const { events, warmupEvents } = options;
  const concurrency = settings.rawConcurrency;
  run.progress(
    `direct ${options.write}: ${formatCount(events)} events, ${settings.directBatchSize} a statement, on ${concurrency} connections`,
  );
  const urls = { natsUrl: settings.natsUrl, databaseUrl: settings.databaseUrl };
  const pipeline = await createTestPipeline({ ...urls, namespacePrefix: `bench${options.write.slice(0, 5)}` });
  const db = createDb({
    url: pipeline.databaseUrl,
    maxConnections: concurrency,
    applicationName: "evpipe-bench-direct",
  });
  try {
    const write = writer(db, options.write);
    const nextBatch = workload.envelopeBatches(settings.directBatchSize);
    const retries: Record<string, number> = {};
    await writeEvents(write, nextBatch, { events: warmupEvents, concurrency, retries });
    await sql`CHECKPOINT`.execute(db);
    const cpu = startCpuTotals({ [postgresGroup]: () => pidsNamed("postgres"), [inserterGroup]: () => [process.pid] });
    const started = performance.now();
    const written = await writeEvents(write, nextBatch, { events, concurrency, retries });
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = cpu.stop();
    if (written !== events) run.problems.push(`direct ${options.write} wrote ${written} of ${events} events`);
    return { write: options.write, events: written, seconds, eventsPerSecond: written / seconds, cpuSeconds, retries };
  } finally {
    await db.destroy();
    await pipeline.cleanup();
  }
}
