import type { DeliverPolicy, JetStreamClient, JsMsg } from "nats";
import { type DeadLetterRecord, decodeDeadLetter } from "./dead-letter.ts";

/** Where dead letters are read: a stream, and within it one subject when it holds several readers'. */
export interface DeadLetterSource {
  stream: string;
  filterSubject?: string | undefined;
}

/** Where a read begins: a sequence, or the first dead letter stored at or after a time. */
export type DeadLetterStart =
  | { opt_start_seq: number }
  | { deliver_policy: DeliverPolicy.StartTime; opt_start_time: string };

/**
 * Dead letters held in memory at once: a page. A dead letter is at most NATS's max_payload (1 MiB by
 * default), so a page is at most ~100 MiB and typically well under 1 MiB. Headers alone are small, and a page
 * costs a consumer of its own, so a headers-only read takes larger ones.
 */
const pageSize = { withBodies: 100, headersOnly: 1000 } as const;

interface Page {
  records: DeadLetterRecord[];
  /** Where the next page starts; undefined at the end of the range. */
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
  start: DeadLetterStart,
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

/**
 * The dead letters from `start` up to `lastSeq`, oldest first, a page at a time, so memory stays bounded however
 * large the stream. `headersOnly` reads no bodies (every record is then unreadable): enough to count or tally.
 */
export async function* readDeadLetterRange(
  js: JetStreamClient,
  source: DeadLetterSource,
  start: DeadLetterStart,
  lastSeq: number,
  options: { headersOnly?: boolean } = {},
): AsyncGenerator<DeadLetterRecord> {
  let from = start;
  for (;;) {
    const page = await readPage(js, source, from, lastSeq, options.headersOnly ?? false);
    yield* page.records;
    if (page.records.length === 0 || page.next === undefined) return;
    from = { opt_start_seq: page.next };
  }
}
