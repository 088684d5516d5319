import { createHash } from "node:crypto";
import { type MsgHdrs, headers as natsHeaders } from "nats";
import * as v from "valibot";
import { type EnvelopeEvent, encodeEnvelope, replayMessageId } from "./envelope.ts";
import { parseJsonText } from "./json-text.ts";
import { messageHeaders } from "./names.ts";

/**
 * The wire format of a dead letter (PRODUCT.md §4): the failing events as an envelope (or the original bytes
 * when they could not be read) and why they failed in headers. The consumer writes it, the operators' CLI and
 * the tests read it, a replay turns it back into an `events.ingest` message; nobody else builds these.
 */
export const deadLetterHeaders = {
  reason: "Evp-Dlq-Reason",
  errorCode: "Evp-Error-Code",
  errorMessage: "Evp-Error-Message",
  attempts: "Evp-Attempts",
  firstFailureAt: "Evp-First-Failure-At",
  lastFailureAt: "Evp-Last-Failure-At",
  originalStream: "Evp-Original-Stream",
  originalSeq: "Evp-Original-Seq",
  /** On a replayed message: the DLQ sequence it came from. */
  replayedFrom: "Evp-Replayed-From",
} as const;

export const deadLetterReasons = ["retries_exhausted", "permanent_error"] as const;
export type DeadLetterReason = (typeof deadLetterReasons)[number];

export interface DeadLetter {
  reason: DeadLetterReason;
  /** SQLSTATE, Node error code, or ENVELOPE_INVALID. */
  errorCode: string;
  errorMessage: string;
  /** The failing events, or undefined when the message itself could not be read (its raw bytes are kept). */
  events: readonly EnvelopeEvent[] | undefined;
  attempts: number;
  firstFailureAt: Date;
  lastFailureAt: Date;
}

/** The `events.ingest` message a dead letter came from. */
export interface DeadLetterOrigin {
  stream: string;
  seq: number;
  requestId: string | undefined;
  data: Uint8Array;
  /**
   * Who dead-lettered it, when several readers of one stream share a DLQ stream (the destinations): part of the
   * message id, so two destinations dead-lettering the same message are not taken for one duplicate.
   */
  reader?: string;
}

export interface NatsMessageParts {
  data: Uint8Array;
  headers: MsgHdrs;
  msgID: string;
}

/**
 * The message id is derived from the original message, the reason and the events, so a consumer that crashes
 * after the PubAck and before settling the original publishes again into the duplicate window and makes no
 * second copy.
 */
export function encodeDeadLetter(letter: DeadLetter, origin: DeadLetterOrigin): NatsMessageParts {
  const h = natsHeaders();
  if (origin.requestId) h.set(messageHeaders.requestId, origin.requestId);
  h.set(deadLetterHeaders.reason, letter.reason);
  h.set(deadLetterHeaders.errorCode, letter.errorCode);
  // Header values are one line; messages from PostgreSQL can span several.
  h.set(deadLetterHeaders.errorMessage, letter.errorMessage.replace(/\s+/g, " ").slice(0, 1000));
  h.set(deadLetterHeaders.attempts, String(letter.attempts));
  h.set(deadLetterHeaders.firstFailureAt, letter.firstFailureAt.toISOString());
  h.set(deadLetterHeaders.lastFailureAt, letter.lastFailureAt.toISOString());
  h.set(deadLetterHeaders.originalStream, origin.stream);
  h.set(deadLetterHeaders.originalSeq, String(origin.seq));
  const ids = letter.events?.map((event) => event.id).join(",") ?? "";
  const digest = createHash("sha256").update(`${letter.reason}/${ids}`).digest("base64url").slice(0, 16);
  return {
    data: letter.events ? encodeEnvelope(letter.events) : origin.data,
    headers: h,
    msgID: `dlq-${origin.reader ? `${origin.reader}-` : ""}${origin.stream}-${origin.seq}-${digest}`,
  };
}

const deadLetterBody = v.object({
  events: v.array(v.looseObject({ id: v.string(), event: v.string(), user_id: v.string() })),
});

export type DeadLetterEvent = v.InferOutput<typeof deadLetterBody>["events"][number];

/** One message of the DLQ stream, as operators see it. */
export interface DeadLetterRecord {
  seq: number;
  storedAt: Date;
  reason: string;
  errorCode: string;
  errorMessage: string;
  attempts: number;
  firstFailureAt: string | undefined;
  lastFailureAt: string | undefined;
  originalStream: string | undefined;
  originalSeq: number | undefined;
  requestId: string | undefined;
  /** The dead-lettered events, or undefined when the original envelope was unreadable (kept as raw bytes). */
  events: DeadLetterEvent[] | undefined;
  data: Uint8Array;
}

function readEvents(data: Uint8Array): DeadLetterEvent[] | undefined {
  // A headers-only read (counting a selection) has no body at all.
  if (data.length === 0) return undefined;
  try {
    const parsed = v.safeParse(deadLetterBody, parseJsonText(new TextDecoder().decode(data)));
    return parsed.success ? parsed.output.events : undefined;
  } catch {
    return undefined;
  }
}

export function decodeDeadLetter(
  seq: number,
  storedAt: Date,
  headers: MsgHdrs | undefined,
  data: Uint8Array,
): DeadLetterRecord {
  const header = (name: string) => headers?.get(name) || undefined;
  const originalSeq = header(deadLetterHeaders.originalSeq);
  return {
    seq,
    storedAt,
    reason: header(deadLetterHeaders.reason) ?? "unknown",
    errorCode: header(deadLetterHeaders.errorCode) ?? "unknown",
    errorMessage: header(deadLetterHeaders.errorMessage) ?? "",
    attempts: Number(header(deadLetterHeaders.attempts) ?? 0),
    firstFailureAt: header(deadLetterHeaders.firstFailureAt),
    lastFailureAt: header(deadLetterHeaders.lastFailureAt),
    originalStream: header(deadLetterHeaders.originalStream),
    originalSeq: originalSeq === undefined ? undefined : Number(originalSeq),
    requestId: header(messageHeaders.requestId),
    events: readEvents(data),
    data,
  };
}

/**
 * The `events.ingest` message that replays a readable dead letter: its events as an envelope, its request id,
 * and where it came from. The consumer validates the envelope as it validates every other.
 */
export function encodeReplay(
  record: DeadLetterRecord & { events: DeadLetterEvent[] },
  dlqStream: string,
): NatsMessageParts {
  const h = natsHeaders();
  if (record.requestId) h.set(messageHeaders.requestId, record.requestId);
  h.set(deadLetterHeaders.replayedFrom, String(record.seq));
  h.set(messageHeaders.eventCount, String(record.events.length));
  return {
    data: encodeEnvelope(record.events),
    headers: h,
    msgID: replayMessageId(dlqStream, record.seq),
  };
}
