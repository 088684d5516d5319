import { parseRfc3339 } from "@evpipe/shared";

/** A client clock can only be corrected by this much: a device offline longer than a month is not believed. */
export const maxClientDelayMs = 30 * 24 * 3600 * 1000;
/** The earliest time stored: PostgreSQL and the envelope's RFC 3339 both need a year from 0001. */
const earliestMs = Date.parse("0001-01-01T00:00:00.000Z");

/** A Segment message's times, as the client wrote them (any of them may be missing or not a date-time). */
export interface ClientTimes {
  timestamp?: unknown;
  originalTimestamp?: unknown;
  /** The message's own sentAt, else its batch's. */
  sentAt?: unknown;
}

const dateOnly = /^\d{4}-\d{2}-\d{2}$/;
const withoutOffset = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?$/;

/** Milliseconds of an ISO 8601 date-time; a date alone, or a date-time without an offset, is read as UTC. */
function millisOf(value: unknown): number {
  if (typeof value !== "string") return Number.NaN;
  const ms = parseRfc3339(value);
  if (!Number.isNaN(ms)) return ms;
  if (dateOnly.test(value)) return parseRfc3339(`${value}T00:00:00Z`);
  if (withoutOffset.test(value)) return parseRfc3339(`${value.replace(" ", "T")}Z`);
  return Number.NaN;
}

/**
 * When the event happened, in milliseconds, by PRODUCT.md §3 and ADR §30. `timestamp` is the producer's
 * statement and is kept, unless it lies in the future: then the client's clock is ahead, by at least how far
 * its `sentAt` is past our `received_at`, and is moved back by that much (never past `received_at`, nor more
 * than maxClientDelayMs before it). Without `timestamp`, the client's delay between the call and the send
 * (`sentAt - originalTimestamp`, both on the client's own clock, whatever its error) is taken from
 * `received_at`, bounded to 0 .. maxClientDelayMs. Anything missing or unreadable falls back to the next rule,
 * and finally to `received_at`. `sentAt` is only read when a rule needs it.
 */
export function eventTime(times: ClientTimes, receivedAtMs: number): number {
  const timestamp = millisOf(times.timestamp);
  if (!Number.isNaN(timestamp)) {
    if (timestamp <= receivedAtMs) return Math.max(earliestMs, timestamp);
    const sentAt = millisOf(times.sentAt);
    if (Number.isNaN(sentAt) || sentAt <= receivedAtMs) return receivedAtMs;
    const corrected = timestamp - (sentAt - receivedAtMs);
    return Math.min(receivedAtMs, Math.max(receivedAtMs - maxClientDelayMs, corrected));
  }
  const originalTimestamp = millisOf(times.originalTimestamp);
  if (Number.isNaN(originalTimestamp)) return receivedAtMs;
  const sentAt = millisOf(times.sentAt);
  if (Number.isNaN(sentAt)) return Math.max(earliestMs, Math.min(receivedAtMs, originalTimestamp));
  const delay = Math.min(maxClientDelayMs, Math.max(0, sentAt - originalTimestamp));
  return receivedAtMs - delay;
}

/** How toISOString writes a time: a stated timestamp already in this form is kept as its own text. */
const canonicalUtc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** eventTime as the RFC 3339 text the envelope carries. */
export function eventTimeText(times: ClientTimes, receivedAtMs: number): string {
  const { timestamp } = times;
  if (typeof timestamp === "string" && canonicalUtc.test(timestamp)) {
    const ms = parseRfc3339(timestamp);
    if (ms <= receivedAtMs && ms >= earliestMs) return timestamp;
  }
  return new Date(eventTime(times, receivedAtMs)).toISOString();
}
