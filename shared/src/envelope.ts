import { createHash } from "node:crypto";
import type { MsgHdrs } from "nats";
import * as v from "valibot";
import { eventEntries, eventTypes, jsonObject, textField, uuidField } from "./event.ts";
import { parseJsonText } from "./json-text.ts";
import type { EventLimits } from "./limits.ts";
import { messageHeaders } from "./names.ts";

/**
 * The wire format of `events.ingest` (PRODUCT.md §4): one versioned JSON message per accepted request. This
 * module is the only one that writes or reads it: the gateway publishes it, the consumer reads it, the
 * dead-letter queue keeps the failing part of it and a replay publishes that part again.
 */
export const envelopeVersion = 1;

/**
 * The bus is a trust boundary, so the consumer parses this again; the future-skew rule is the gateway's
 * admission policy and is not re-checked.
 */
export function createEnvelopeSchema(limits: EventLimits) {
  // A Segment message is kept whole as its event's metadata, so metadata may be as large as a message.
  const maxMetadataBytes = Math.max(limits.maxMetadataBytes, limits.maxSegmentMessageBytes);
  const event = jsonObject({
    ...eventEntries({ ...limits, maxMetadataBytes }),
    // Set by the Segment-compatible routes; stored as `track` and without an anonymous id when absent.
    type: v.optional(v.picklist(eventTypes)),
    anonymous_id: v.optional(textField(limits)),
    id: uuidField,
    received_at: v.pipe(v.string(), v.isoTimestamp()),
    request_id: v.string(),
    key_id: v.string(),
  });
  return jsonObject({
    v: v.literal(envelopeVersion),
    events: v.pipe(v.array(event), v.minLength(1)),
  });
}

export type EnvelopeSchema = ReturnType<typeof createEnvelopeSchema>;
export type Envelope = v.InferOutput<EnvelopeSchema>;
export type EnvelopeEvent = Envelope["events"][number];

/** Takes any events: a replay re-encodes what the DLQ kept, and the consumer validates it like every other. */
export function encodeEnvelope(events: readonly object[]): Buffer {
  return Buffer.from(JSON.stringify({ v: envelopeVersion, events }));
}

/** Bytes per event of an envelope without the count header (a realistic event with ~300 bytes of metadata). */
const estimatedEventBytes = 500;

/**
 * How many events an envelope holds, for sizing writes before it is parsed: the count header its publisher
 * set, or an estimate from its size for a message without one. Only a hint: the envelope itself is the truth.
 */
export function envelopeEventCount(headers: MsgHdrs | undefined, bytes: number): number {
  const counted = Number(headers?.get(messageHeaders.eventCount));
  if (Number.isSafeInteger(counted) && counted > 0) return counted;
  return Math.max(1, Math.round(bytes / estimatedEventBytes));
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The events of an envelope; throws (a SyntaxError, TypeError or valibot's ValiError) when it is not one. */
export function decodeEnvelope(schema: EnvelopeSchema, data: Uint8Array): EnvelopeEvent[] {
  return v.parse(schema, parseJsonText(utf8.decode(data))).events;
}

/**
 * The Nats-Msg-Id of a request's envelope: derived from its event ids, so a producer retrying with the same
 * ids inside the duplicate window is stored once by JetStream itself.
 */
export function envelopeMessageId(events: readonly EnvelopeEvent[]): string {
  if (events.length === 1) return (events[0] as EnvelopeEvent).id;
  const hash = createHash("sha256");
  for (const event of events) hash.update(event.id);
  return `batch-${hash.digest("base64url")}`;
}

/**
 * The Nats-Msg-Id of a dead letter replayed into `events.ingest`: the original's is long out of the duplicate
 * window, and the same dead letter replayed twice in a row is stored once by JetStream itself.
 */
export function replayMessageId(dlqStream: string, dlqSeq: number): string {
  return `dlq-replay-${dlqStream}-${dlqSeq}`;
}
