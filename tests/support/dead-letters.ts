import { deadLetterHeaders, messageHeaders } from "@evpipe/shared";
import type { JetStreamManager } from "nats";

export interface StoredDeadLetter {
  seq: number;
  reason: string | undefined;
  errorCode: string | undefined;
  errorMessage: string | undefined;
  attempts: number;
  firstFailureAt: string | undefined;
  lastFailureAt: string | undefined;
  originalSeq: number;
  requestId: string | undefined;
  body: string;
  events: Array<{ id: string; user_id: string; event: string }> | undefined;
}

/** Every message in the DLQ stream, decoded. */
export async function readDeadLetters(jsm: JetStreamManager, stream: string): Promise<StoredDeadLetter[]> {
  const info = await jsm.streams.info(stream);
  const letters: StoredDeadLetter[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
    if (!msg) continue;
    const body = new TextDecoder().decode(msg.data);
    let events: StoredDeadLetter["events"];
    try {
      events = (JSON.parse(body) as { events?: StoredDeadLetter["events"] }).events;
    } catch {
      events = undefined;
    }
    const header = (name: string) => msg.header.get(name) || undefined;
    letters.push({
      seq,
      reason: header(deadLetterHeaders.reason),
      errorCode: header(deadLetterHeaders.errorCode),
      errorMessage: header(deadLetterHeaders.errorMessage),
      attempts: Number(header(deadLetterHeaders.attempts)),
      firstFailureAt: header(deadLetterHeaders.firstFailureAt),
      lastFailureAt: header(deadLetterHeaders.lastFailureAt),
      originalSeq: Number(header(deadLetterHeaders.originalSeq)),
      requestId: header(messageHeaders.requestId),
      body,
      events,
    });
  }
  return letters;
}
