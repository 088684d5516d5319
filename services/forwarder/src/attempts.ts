import type { KV } from "nats";
import * as v from "valibot";

/** A message's failed deliveries to one destination so far, and when the first one failed. */
export interface Attempts {
  failures: number;
  firstFailureAt: string | undefined;
}

export const noAttempts: Attempts = { failures: 0, firstFailureAt: undefined };

const attemptsSchema = v.object({
  failures: v.pipe(v.number(), v.integer(), v.minValue(0)),
  firstFailureAt: v.optional(v.string()),
});

export interface AttemptsStore {
  read(key: string): Promise<Attempts>;
  write(key: string, attempts: Attempts): Promise<void>;
  forget(key: string): Promise<void>;
}

/**
 * Failed attempts kept in a JetStream key-value bucket rather than read off the delivery count, which also
 * counts the deliveries a pause, a stop or a crash handed back: those are not the vendor's failures and must
 * not bring a message closer to the dead-letter queue. The bucket's TTL clears what a crash left behind.
 */
export function kvAttemptsStore(kv: KV): AttemptsStore {
  return {
    async read(key) {
      const entry = await kv.get(key);
      if (entry?.operation !== "PUT") return noAttempts;
      const parsed = v.parse(attemptsSchema, JSON.parse(new TextDecoder().decode(entry.value)));
      return { failures: parsed.failures, firstFailureAt: parsed.firstFailureAt };
    },
    async write(key, attempts) {
      await kv.put(key, JSON.stringify(attempts));
    },
    async forget(key) {
      await kv.purge(key);
    },
  };
}

/** One message's key: the destination's scope (attemptsScope), the stream it came from and its sequence there. */
export const attemptsKey = (scope: string, stream: string, seq: number): string => `${scope}.${stream}.${seq}`;

/** A destination's scope of keys: its name and when it was added (a re-added name starts afresh). */
export const attemptsScope = (name: string, createdAt: string): string => `${name}.${Date.parse(createdAt) || 0}`;
