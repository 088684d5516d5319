import { randomUUID } from "node:crypto";
import {
  type DeadLetterReason,
  type DeadLetterRecord,
  decodeDeadLetter,
  encodeDeadLetter,
  type NatsNames,
} from "@evpipe/shared";
import type { JetStreamClient, JetStreamManager, PubAck } from "nats";

export interface StoredDeadLetter extends DeadLetterRecord {
  body: string;
}

/** JetStream's "no message found" (10037) alone: a missing stream or any other failure is not a gap. */
const isDeletedMessage = (err: unknown) => (err as { api_error?: { err_code?: number } }).api_error?.err_code === 10037;

/**
 * Every message in the DLQ stream, decoded with the parser the operators' CLI uses. A sequence with no message
 * (deleted by a replay or purge) is passed over; any other failure to read one fails the caller's test.
 */
export async function readDeadLetters(jsm: JetStreamManager, stream: string): Promise<StoredDeadLetter[]> {
  const info = await jsm.streams.info(stream);
  const letters: StoredDeadLetter[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq }).catch((err: unknown) => {
      if (isDeletedMessage(err)) return undefined;
      throw new Error(`cannot read dead letter ${seq} of ${stream}: ${(err as Error).message}`, { cause: err });
    });
    if (!msg) continue;
    letters.push({
      ...decodeDeadLetter(seq, msg.time, msg.header, msg.data),
      body: new TextDecoder().decode(msg.data),
    });
  }
  return letters;
}

export interface DeadLetterBatch {
  count: number;
  reason?: DeadLetterReason;
  errorCode?: string;
  /** PubAcks awaited at most at once. */
  inFlight?: number;
  /** Called after each 10,000 published. */
  onProgress?: (published: number) => void;
}

/**
 * Publishes dead letters straight into the DLQ as the consumer writes them (one failing, replayable event
 * each), for tests and benchmarks that need many without failing that many writes. Returns the event ids in
 * the order they were published.
 */
export async function publishDeadLetters(js: JetStreamClient, names: NatsNames, batch: DeadLetterBatch) {
  const failedAt = new Date();
  const ids: string[] = [];
  const pending = new Set<Promise<PubAck>>();
  for (let i = 0; i < batch.count; i++) {
    const id = randomUUID();
    ids.push(id);
    const event = {
      id,
      event: `dead-${i % 20}`,
      user_id: `dead-user-${i}`,
      received_at: failedAt.toISOString(),
      request_id: `dead-${id}`,
      key_id: "deadletters0",
      metadata: { plan: "pro", page: `/pricing/${i % 100}`, amount: i % 1000 },
    };
    const letter = encodeDeadLetter(
      {
        reason: batch.reason ?? "permanent_error",
        errorCode: batch.errorCode ?? "23514",
        errorMessage: 'new row for relation "events" violates check constraint "synthetic"',
        events: [event],
        attempts: batch.reason === "retries_exhausted" ? 6 : 1,
        firstFailureAt: failedAt,
        lastFailureAt: failedAt,
      },
      { stream: names.eventsStream, seq: i + 1, requestId: event.request_id, data: new Uint8Array() },
    );
    const ack = js.publish(names.dlqSubject, letter.data, { msgID: letter.msgID, headers: letter.headers });
    pending.add(ack);
    void ack.then(() => pending.delete(ack)).catch(() => undefined);
    if (pending.size >= (batch.inFlight ?? 256)) await Promise.race(pending);
    if ((i + 1) % 10_000 === 0) batch.onProgress?.(i + 1);
  }
  await Promise.all(pending);
  return ids;
}
