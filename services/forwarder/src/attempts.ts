/**
 * Keys of a destination's failed attempts in the shared failure-history store (kvHistoryStore): attempts are
 * kept there rather than read off the delivery count, which also counts the deliveries a pause, a stop or a
 * crash handed back; those are not the vendor's failures and must not bring a message closer to the
 * dead-letter queue.
 */

/** One message's key: the destination's scope (attemptsScope), the stream it came from and its sequence there. */
export const attemptsKey = (scope: string, stream: string, seq: number): string => `${scope}.${stream}.${seq}`;

/** A destination's scope of keys: its name and when it was added (a re-added name starts afresh). */
export const attemptsScope = (name: string, createdAt: string): string => `${name}.${Date.parse(createdAt) || 0}`;
