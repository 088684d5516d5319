import { parseRfc3339 } from "@evpipe/shared";

/** A client clock can only be corrected by this much: a device offline longer than a month is not believed. */
export const maxClientDelayMs = 30 * 24 * 3600 * 1000;

/** A Segment message's times, as the client wrote them (any of them may be missing or not a date-time). */
export interface ClientTimes {
  timestamp?: unknown;
  originalTimestamp?: unknown;
  /** The message's own sentAt, else its batch's. */
  sentAt?: unknown;
}

const millisOf = (value: unknown): number => (typeof value === "string" ? parseRfc3339(value) : Number.NaN);

/**
 * When the event happened, in milliseconds, by PRODUCT.md §3 and ADR §30. `timestamp` is the producer's
 * statement and is kept, unless it lies in the future: then the client's clock is ahead, by at least how far
 * its `sentAt` is past our `received_at`, and is moved back by that much (never past `received_at`). Without
 * `timestamp`, the client's delay between the call and the send (`sentAt - originalTimestamp`, both on the
 * client's own clock, whatever its error) is taken from `received_at`, bounded to 0 .. maxClientDelayMs.
 * Anything missing or unreadable falls back to the next rule, and finally to `received_at`.
 */
export function eventTime(times: ClientTimes, receivedAtMs: number): number {
  const timestamp = millisOf(times.timestamp);
  const sentAt = millisOf(times.sentAt);
  if (!Number.isNaN(timestamp)) {
    if (timestamp <= receivedAtMs) return timestamp;
    if (Number.isNaN(sentAt) || sentAt <= receivedAtMs) return receivedAtMs;
    return Math.min(receivedAtMs, timestamp - (sentAt - receivedAtMs));
  }
  const originalTimestamp = millisOf(times.originalTimestamp);
  if (Number.isNaN(originalTimestamp)) return receivedAtMs;
  if (Number.isNaN(sentAt)) return Math.min(receivedAtMs, originalTimestamp);
  const delay = Math.min(maxClientDelayMs, Math.max(0, sentAt - originalTimestamp));
  return receivedAtMs - delay;
}
