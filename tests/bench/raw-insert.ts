import { type Database, insertEvents } from "@evpipe/db";
import { type Kysely, sql } from "kysely";
import { envelopeEvents } from "./workload.ts";

export interface RawInsertResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

/**
 * The ceiling for the consumer: the same events through the consumer's own insert statement, `concurrency`
 * connections at once, with nothing else in the way. Events are built before the clock starts.
 */
export async function measureRawInsert(
  db: Kysely<Database>,
  options: { events: number; batchSize: number; concurrency: number },
): Promise<RawInsertResult> {
  const batches = envelopeEvents(options.events, options.batchSize);
  await sql`CHECKPOINT`.execute(db);
  let next = 0;
  let inserted = 0;
  const insertNext = async () => {
    for (let batch = batches[next++]; batch; batch = batches[next++]) {
      // Awaited first: `inserted += await ...` would read `inserted` before the await and lose updates.
      const ids = await insertEvents(db, batch);
      inserted += ids.length;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: options.concurrency }, insertNext));
  const seconds = (performance.now() - started) / 1000;
  if (inserted !== options.events) throw new Error(`raw insert stored ${inserted} of ${options.events} events`);
  return { events: inserted, seconds, eventsPerSecond: inserted / seconds };
}
