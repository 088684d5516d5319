import { type DeadLetterEvent, type DeadLetterRecord, decodeDeadLetter, isNotFound } from "@evpipe/shared";
import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from "nats";
import type { DlqTarget } from "./context.ts";
import { matches, type Selector } from "./selector.ts";

/** Where dead letters are read: a stream, and within it one subject when it holds several readers'. */
export type DeadLetterSource = Pick<DlqTarget, "stream" | "filterSubject">;

/** Events a dead letter holds; an unreadable one counts as one. */
export const eventCount = (record: DeadLetterRecord) => record.events?.length ?? 1;

/** Whether the original envelope could be read, so the dead letter can be replayed. */
export const isReadable = (record: DeadLetterRecord): record is DeadLetterRecord & { events: DeadLetterEvent[] } =>
  record.events !== undefined;

/**
 * Dead letters held in memory at once: a page. A dead letter is at most NATS's max_payload (1 MiB by
 * default), so a page is at most ~100 MiB and typically well under 1 MiB. Headers alone are small, and a page
 * costs a consumer of its own, so a headers-only read takes larger ones.
 */
const pageSize = { withBodies: 100, headersOnly: 1000 } as const;

type PageStart = { opt_start_seq: number } | { deliver_policy: DeliverPolicy.StartTime; opt_start_time: string };

interface Page {
  records: DeadLetterRecord[];
  /** Where the next page starts; undefined at the end of the stream as it was when the read began. */
  next: number | undefined;
}

function decode(msg: JsMsg): DeadLetterRecord {
  return decodeDeadLetter(msg.seq, new Date(msg.info.timestampNanos / 1_000_000), msg.headers, msg.data);
}

/**
 * One page through an ordered consumer of its own, deleted afterwards: a caller may take its time over a page
 * (a replay under --rate) without a consumer idling on the server between pages.
 */
async function readPage(
  js: JetStreamClient,
  source: DeadLetterSource,
  start: PageStart,
  lastSeq: number,
  headersOnly: boolean,
): Promise<Page> {
  const filter = source.filterSubject === undefined ? {} : { filterSubjects: source.filterSubject };
  const consumer = await js.consumers.get(source.stream, { ...start, ...filter, headers_only: headersOnly });
  const records: DeadLetterRecord[] = [];
  let next: number | undefined;
  try {
    const max = headersOnly ? pageSize.headersOnly : pageSize.withBodies;
    for await (const msg of await consumer.fetch({ max_messages: max, expires: 2000 })) {
      if (msg.seq > lastSeq) break;
      records.push(decode(msg));
      next = msg.seq + 1;
      // Stop at the end rather than wait for the pull to expire.
      if (msg.seq === lastSeq || msg.info.pending === 0) {
        next = undefined;
        break;
      }
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return { records, next };
}

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
  let start: PageStart = selector.since
    ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: selector.since.toISOString() }
    : { opt_start_seq: held.firstSeq };
  for (;;) {
    const page = await readPage(js, source, start, held.lastSeq, options.headersOnly ?? false);
    for (const record of page.records) if (matches(selector, record)) yield record;
    if (page.records.length === 0 || page.next === undefined) return;
    start = { opt_start_seq: page.next };
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
