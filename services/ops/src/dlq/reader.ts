import { type DeadLetterEvent, type DeadLetterRecord, decodeDeadLetter, isNotFound } from "@evpipe/shared";
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "nats";
import { matches, type Selector } from "./selector.ts";

/** Events a dead letter holds; an unreadable one counts as one. */
export const eventCount = (record: DeadLetterRecord) => record.events?.length ?? 1;

/** Whether the original envelope could be read, so the dead letter can be replayed. */
export const isReadable = (record: DeadLetterRecord): record is DeadLetterRecord & { events: DeadLetterEvent[] } =>
  record.events !== undefined;

/**
 * Streams the dead letters a selector picks, oldest first, through an ordered consumer (one pass, no
 * request per message); explicit sequence numbers are fetched directly.
 */
export async function* readDeadLetters(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  selector: Selector,
): AsyncGenerator<DeadLetterRecord> {
  if (selector.seqs) {
    for (const seq of [...new Set(selector.seqs)].sort((a, b) => a - b)) {
      const stored = await jsm.streams.getMessage(stream, { seq }).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      if (!stored) continue;
      const record = decodeDeadLetter(stored.seq, stored.time, stored.header, stored.data);
      if (matches(selector, record)) yield record;
    }
    return;
  }
  const info = await jsm.streams.info(stream);
  if (info.state.messages === 0) return;
  if (selector.since && selector.since > new Date(info.state.last_ts)) return;
  const consumer = await js.consumers.get(
    stream,
    selector.since ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: selector.since.toISOString() } : {},
  );
  for (;;) {
    let received = 0;
    let atEnd = false;
    for await (const msg of await consumer.fetch({ max_messages: 500, expires: 1000 })) {
      received++;
      const record = decodeDeadLetter(msg.seq, new Date(msg.info.timestampNanos / 1_000_000), msg.headers, msg.data);
      if (matches(selector, record)) yield record;
      if (msg.info.pending === 0 || msg.seq >= info.state.last_seq) atEnd = true;
    }
    if (atEnd || received === 0) return;
  }
}
