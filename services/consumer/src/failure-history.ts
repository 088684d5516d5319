import type { KV } from "nats";
import * as v from "valibot";

/**
 * What the writer remembers of one EVENTS message between its deliveries. Kept in a JetStream key-value
 * bucket, not in memory, so a restarted consumer neither counts deliveries handed back during an outage (or
 * cut short by a crash) as attempts nor dead-letters an event twice.
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

export interface HistoryStore {
  read(streamSeq: number): Promise<FailureHistory>;
  write(streamSeq: number, history: FailureHistory): Promise<void>;
  forget(streamSeq: number): Promise<void>;
}

/** Keys are EVENTS stream sequences, which are never reused; the bucket's TTL clears what a crash left behind. */
export function kvHistoryStore(kv: KV): HistoryStore {
  return {
    async read(streamSeq) {
      const entry = await kv.get(String(streamSeq));
      return entry?.operation === "PUT" ? decodeHistory(entry.value) : noHistory;
    },
    async write(streamSeq, history) {
      await kv.put(String(streamSeq), encodeHistory(history));
    },
    async forget(streamSeq) {
      await kv.purge(String(streamSeq));
    },
  };
}
