import type { JetStreamClient, KV } from "nats";
import * as v from "valibot";
import { openBucket, type Replication } from "./replication.ts";

/**
 * What a reader of EVENTS (the writer, a destination's worker) remembers of one message between its deliveries.
 * Kept in a JetStream key-value bucket, not in memory, so a restarted service neither counts deliveries handed
 * back during an outage, a pause or a crash as attempts nor dead-letters an event twice.
 */
export interface FailureHistory {
  /** Deliveries that ended in a failure of the message's own (outage and bug returns don't count). */
  failures: number;
  firstFailureAt: string | undefined;
  /** Events of the message already in the DLQ. */
  deadLettered: readonly string[];
}

export const noHistory: FailureHistory = { failures: 0, firstFailureAt: undefined, deadLettered: [] };

const historySchema = v.object({
  failures: v.pipe(v.number(), v.integer(), v.minValue(0)),
  firstFailureAt: v.optional(v.string()),
  deadLettered: v.array(v.string()),
});

export function encodeHistory(history: FailureHistory): string {
  return JSON.stringify(history);
}

export function decodeHistory(data: Uint8Array): FailureHistory {
  const parsed = v.parse(historySchema, JSON.parse(new TextDecoder().decode(data)));
  return { ...parsed, firstFailureAt: parsed.firstFailureAt };
}

/** Keyed by the message: the writer by its EVENTS sequence, a destination by its own scope and the sequence. */
export interface HistoryStore {
  read(key: number | string): Promise<FailureHistory>;
  write(key: number | string, history: FailureHistory): Promise<void>;
  forget(key: number | string): Promise<void>;
}

/** Stream sequences are never reused; the bucket's TTL clears what a crash left behind. */
export function kvHistoryStore(kv: KV): HistoryStore {
  return {
    async read(key) {
      const entry = await kv.get(String(key));
      return entry?.operation === "PUT" ? decodeHistory(entry.value) : noHistory;
    },
    async write(key, history) {
      await kv.put(String(key), encodeHistory(history));
    },
    async forget(key) {
      await kv.purge(String(key));
    },
  };
}

/**
 * A bucket of failure histories (the writer's, or the destinations' attempts): one entry per message, kept as
 * long as EVENTS keeps the message and no longer.
 */
export const openFailureHistoryBucket = (
  js: JetStreamClient,
  bucket: string,
  eventsMaxAgeMs: number,
  replication?: Replication,
): Promise<KV> => openBucket(js, bucket, { history: 1, ttl: eventsMaxAgeMs }, replication);
