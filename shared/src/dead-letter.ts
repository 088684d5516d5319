import type { MsgHdrs } from "nats";
import * as v from "valibot";
import { deadLetterHeaders, messageHeaders } from "./names.ts";

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

export function parseDeadLetter(
  seq: number,
  storedAt: Date,
  headers: MsgHdrs | undefined,
  data: Uint8Array,
): DeadLetterRecord {
  const header = (name: string) => headers?.get(name) || undefined;
  let events: DeadLetterEvent[] | undefined;
  try {
    const parsed = v.safeParse(deadLetterBody, JSON.parse(new TextDecoder().decode(data)));
    events = parsed.success ? parsed.output.events : undefined;
  } catch {
    events = undefined;
  }
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
    events,
    data,
  };
}
