import type { Database } from "@evpipe/db";
import { type Kysely, sql } from "kysely";
import type { TestPipeline } from "../support/pipeline.ts";
import type { PhaseResult } from "./phase.ts";

/** The database's clock, which is the clock of `stored_at`. */
export async function databaseNow(db: Kysely<Database>): Promise<Date> {
  const { rows } = await sql<{ now: Date }>`SELECT now() AS now`.execute(db);
  return (rows[0] as { now: Date }).now;
}

/** Events written with `stored_at >= since`, and when the first and the last of them were stored. */
export async function storedSince(db: Kysely<Database>, since: Date) {
  const row = await db
    .selectFrom("events")
    .select((eb) => [
      eb.fn.countAll<string>().as("count"),
      eb.fn.min("stored_at").as("first"),
      eb.fn.max("stored_at").as("last"),
    ])
    .where("stored_at", ">=", since)
    .executeTakeFirstOrThrow();
  return { count: Number(row.count), first: row.first as Date | null, last: row.last as Date | null };
}

/** Messages the writer consumer has not acknowledged yet: not delivered, or delivered and in progress. */
export async function consumerBacklog(pipeline: TestPipeline): Promise<number> {
  const info = await pipeline.jsm.consumers.info(pipeline.names.eventsStream, pipeline.names.writerConsumer);
  return info.num_pending + info.num_ack_pending;
}

/** Polls the consumer's backlog once a second and keeps the highest value seen. */
export function watchBacklog(pipeline: TestPipeline) {
  let peak = 0;
  const timer = setInterval(() => {
    consumerBacklog(pipeline).then(
      (backlog) => {
        peak = Math.max(peak, backlog);
      },
      () => undefined,
    );
  }, 1000);
  return {
    stop(): number {
      clearInterval(timer);
      return peak;
    },
  };
}

/**
 * Waits until the consumer has acknowledged everything and every event published since the phase began is
 * stored. The published count is re-read on each poll: requests that autocannon abandoned at the cutoff
 * are still being published for a moment after the load stops. The cheap NATS probe gates the count,
 * which scans the table.
 */
export async function waitForStored(
  pipeline: TestPipeline,
  since: Date,
  publishedEvents: () => Promise<number>,
  timeoutMs: number,
): Promise<{ stored: number; published: number; timedOut: boolean }> {
  const deadline = Date.now() + timeoutMs;
  let stored = 0;
  let published = 0;
  for (;;) {
    if ((await consumerBacklog(pipeline)) === 0) {
      stored = (await storedSince(pipeline.db, since)).count;
      published = await publishedEvents();
      if (stored >= published) return { stored, published, timedOut: false };
    }
    if (Date.now() > deadline) return { stored, published: await publishedEvents(), timedOut: true };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Stored events per second over the window from the first to the last one stored. */
export function storedPerSecond(phase: PhaseResult): { rate: number; windowS: number } {
  if (!phase.firstStored || !phase.lastStored) return { rate: 0, windowS: 0 };
  const windowS = (phase.lastStored.getTime() - phase.firstStored.getTime()) / 1000;
  return { rate: windowS > 0 ? phase.storedEvents / windowS : 0, windowS };
}
