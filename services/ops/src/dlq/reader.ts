import {
  type DeadLetterEvent,
  type DeadLetterRecord,
  type DeadLetterSource,
  type DeadLetterStart,
  decodeDeadLetter,
  isNotFound,
  readDeadLetterRange,
} from "@evpipe/shared";
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "nats";
import { matches, type Selector } from "./selector.ts";

/** Events a dead letter holds; an unreadable one counts as one. */
export const eventCount = (record: DeadLetterRecord) => record.events?.length ?? 1;

/** Whether the original envelope could be read, so the dead letter can be replayed. */
export const isReadable = (record: DeadLetterRecord): record is DeadLetterRecord & { events: DeadLetterEvent[] } =>
  record.events !== undefined;

/** Explicit sequence numbers, fetched directly; one of another subject than the source's is not there for it. */
async function* readBySeq(jsm: JetStreamManager, source: DeadLetterSource, selector: Selector) {
  for (const seq of [...new Set(selector.seqs)].sort((a, b) => a - b)) {
    const stored = await jsm.streams.getMessage(source.stream, { seq }).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (!stored) continue;
    if (source.filterSubject !== undefined && stored.subject !== source.filterSubject) continue;
    const record = decodeDeadLetter(stored.seq, stored.time, stored.header, stored.data);
    if (matches(selector, record)) yield record;
  }
}

/**
 * Where the source's dead letters begin and end as the read begins, or undefined when it holds none. Within one
 * subject, the end is that subject's last message, so a read stops there instead of waiting at the stream's end.
 */
async function extent(
  jsm: JetStreamManager,
  source: DeadLetterSource,
): Promise<{ firstSeq: number; lastSeq: number; lastTime: Date } | undefined> {
  const info = await jsm.streams.info(source.stream);
  if (info.state.messages === 0) return undefined;
  if (source.filterSubject === undefined) {
    return { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq, lastTime: new Date(info.state.last_ts) };
  }
  const last = await jsm.streams
    .getMessage(source.stream, { last_by_subj: source.filterSubject })
    .catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
  return last && { firstSeq: info.state.first_seq, lastSeq: last.seq, lastTime: last.time };
}

/**
 * Streams the dead letters a selector picks, oldest first, a page at a time, so memory stays bounded however
 * large the DLQ; explicit sequence numbers are fetched directly. Only what the stream held when the read
 * began: dead letters a replay's events make again are left for the next run. `headersOnly` reads no bodies
 * (every record is then unreadable): enough to count a selection.
 */
export async function* readDeadLetters(
  js: JetStreamClient,
  jsm: JetStreamManager,
  source: DeadLetterSource,
  selector: Selector,
  options: { headersOnly?: boolean } = {},
): AsyncGenerator<DeadLetterRecord> {
  if (selector.seqs) {
    yield* readBySeq(jsm, source, selector);
    return;
  }
  const held = await extent(jsm, source);
  if (!held) return;
  if (selector.since && selector.since > held.lastTime) return;
  const start: DeadLetterStart = selector.since
    ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: selector.since.toISOString() }
    : { opt_start_seq: held.firstSeq };
  for await (const record of readDeadLetterRange(js, source, start, held.lastSeq, options)) {
    if (matches(selector, record)) yield record;
  }
}

/** How many dead letters a selector picks, from one pass over their headers alone (no bodies, nothing kept). */
export async function countDeadLetters(
  js: JetStreamClient,
  jsm: JetStreamManager,
  source: DeadLetterSource,
  selector: Selector,
): Promise<number> {
  let count = 0;
  for await (const _record of readDeadLetters(js, jsm, source, selector, { headersOnly: true })) count++;
  return count;
}
