import { createHash } from "node:crypto";
import type { Failure } from "@evpipe/db";
import {
  type DeadLetterReason,
  deadLetterHeaders,
  type EnvelopeEvent,
  messageHeaders,
  type NatsNames,
} from "@evpipe/shared";
import { headers, type JetStreamClient, type JsMsg } from "nats";

export interface DeadLetter {
  reason: DeadLetterReason;
  failure: Failure;
  /** The failing events, or undefined when the message itself could not be read (its raw bytes are kept). */
  events: EnvelopeEvent[] | undefined;
  attempts: number;
  firstFailureAt: Date;
  lastFailureAt: Date;
}

/**
 * Publishes the failing events to the DLQ and waits for its PubAck. The message id is derived from the
 * original message and what failed, so a consumer that crashes after this and before terminating the
 * original publishes again into JetStream's duplicate window and makes no second copy.
 */
export async function publishDeadLetter(
  js: JetStreamClient,
  names: NatsNames,
  original: JsMsg,
  letter: DeadLetter,
  timeoutMs: number,
): Promise<void> {
  const h = headers();
  const requestId = original.headers?.get(messageHeaders.requestId);
  if (requestId) h.set(messageHeaders.requestId, requestId);
  h.set(deadLetterHeaders.reason, letter.reason);
  h.set(deadLetterHeaders.errorCode, letter.failure.code);
  // Header values are one line; messages from PostgreSQL can span several.
  h.set(deadLetterHeaders.errorMessage, letter.failure.message.replace(/\s+/g, " ").slice(0, 1000));
  h.set(deadLetterHeaders.attempts, String(letter.attempts));
  h.set(deadLetterHeaders.firstFailureAt, letter.firstFailureAt.toISOString());
  h.set(deadLetterHeaders.lastFailureAt, letter.lastFailureAt.toISOString());
  h.set(deadLetterHeaders.originalStream, original.info.stream);
  h.set(deadLetterHeaders.originalSeq, String(original.info.streamSequence));
  const payload = letter.events ? Buffer.from(JSON.stringify({ v: 1, events: letter.events })) : original.data;
  const ids = letter.events?.map((event) => event.id).join(",") ?? "";
  const msgID = `dlq-${original.info.stream}-${original.info.streamSequence}-${createHash("sha256").update(ids).digest("base64url").slice(0, 16)}`;
  await js.publish(names.dlqSubject, payload, { msgID, headers: h, timeout: timeoutMs });
}
