import { messageHeaders } from "@evpipe/shared";
import type { ConsumerMessages, JsMsg } from "nats";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { WrittenBatch } from "./batch-writer.ts";
import { WriterLoop } from "./writer-loop.ts";

const ackWaitMs = 3000;

/** A message that counts its working() calls, and those that came after it was settled. */
function message(seq: number, events = 1) {
  const seen = { working: 0, workingAfterSettled: 0, settled: undefined as string | undefined };
  // Only the members WriterLoop and the fake write use.
  const msg = {
    seq,
    data: new Uint8Array(200),
    headers: { get: (name: string) => (name === messageHeaders.eventCount ? String(events) : "") },
    working: () => {
      if (seen.settled) seen.workingAfterSettled++;
      else seen.working++;
    },
    ack: () => {
      seen.settled ??= "ack";
    },
    nak: () => {
      seen.settled ??= "nak";
    },
  } as unknown as JsMsg;
  return { msg, seen };
}

/** The client's side of a pull: what was delivered and not yet read stays here, out of the loop's reach. */
function pull() {
  const queue: JsMsg[] = [];
  let arrived = Promise.withResolvers<void>();
  let closed = false;
  const messages = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = queue.shift();
        if (next) yield next;
        else if (closed) return;
        else {
          await arrived.promise;
          arrived = Promise.withResolvers<void>();
        }
      }
    },
    close: async () => {
      closed = true;
      arrived.resolve();
    },
    getPending: () => queue.length,
  };
  const deliver = (...msgs: JsMsg[]) => {
    queue.push(...msgs);
    arrived.resolve();
  };
  // The loop uses only iteration, close() and getPending().
  return { messages: messages as unknown as ConsumerMessages, deliver };
}

/** A loop whose writes end when the test says so; each write acks its messages when settled. */
function loop(options: { concurrency: number; pullBatch?: number; writeLingerMs?: number }) {
  const source = pull();
  const writes: { batch: readonly JsMsg[]; finish: () => void; fail: (err: Error) => void }[] = [];
  const writer = new WriterLoop({
    log: pino({ enabled: false }),
    pull: async () => source.messages,
    write: (batch) => {
      const done = Promise.withResolvers<void>();
      writes.push({ batch, finish: () => done.resolve(), fail: (err) => done.reject(err) });
      return done.promise.then(
        (): WrittenBatch => ({
          outcome: { kind: "written", failures: new Map() },
          settle: async () => {
            for (const msg of batch) msg.ack();
          },
        }),
      );
    },
    probe: async () => {},
    probeIntervalMs: 100,
    concurrency: options.concurrency,
    pullBatch: options.pullBatch ?? 64,
    maxWriteEvents: 2000,
    writeLingerMs: options.writeLingerMs ?? 0,
    ackWaitMs,
  });
  return { writer, writes, deliver: source.deliver };
}

/** Lets the reader and the dispatch (on setImmediate, which stays real) run. */
async function turns(count = 3) {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe("WriterLoop keeps what it holds alive", () => {
  it("touches a message every third of ack_wait while its write takes many ack waits, and not once settled", async () => {
    const { writer, writes, deliver } = loop({ concurrency: 1 });
    await writer.start();
    const first = message(1);
    deliver(first.msg);
    await turns();
    expect(writes.map((w) => w.batch)).toEqual([[first.msg]]);

    vi.advanceTimersByTime(4 * ackWaitMs);
    expect(first.seen.working).toBe(12);
    writes[0]?.finish();
    await turns();
    expect(first.seen.settled).toBe("ack");
    vi.advanceTimersByTime(2 * ackWaitMs);
    expect(first.seen).toEqual({ working: 12, workingAfterSettled: 0, settled: "ack" });
    await writer.stop();
  });

  it("touches messages waiting for a free writer, then while they are written", async () => {
    const { writer, writes, deliver } = loop({ concurrency: 1 });
    await writer.start();
    const [first, second, third] = [message(1), message(2), message(3)];
    deliver(first.msg);
    await turns();
    deliver(second.msg, third.msg);
    await turns();
    expect(writes).toHaveLength(1);

    vi.advanceTimersByTime(2 * ackWaitMs);
    expect([first.seen.working, second.seen.working, third.seen.working]).toEqual([6, 6, 6]);
    writes[0]?.finish();
    await turns();
    expect(writes[1]?.batch).toEqual([second.msg, third.msg]);
    vi.advanceTimersByTime(ackWaitMs);
    expect([first.seen.working, second.seen.working, third.seen.working]).toEqual([6, 9, 9]);
    writes[1]?.finish();
    await writer.stop();
    vi.advanceTimersByTime(ackWaitMs);
    expect([second.seen.workingAfterSettled, third.seen.workingAfterSettled]).toEqual([0, 0]);
  });

  it("touches at once what the client received while the reader waited for room", async () => {
    const { writer, writes, deliver } = loop({ concurrency: 1, pullBatch: 2 });
    await writer.start();
    const held = [1, 2, 3].map(message);
    const queued = [4, 5].map(message);
    deliver((held[0] as (typeof held)[0]).msg);
    await turns();
    deliver(...held.slice(1).map((m) => m.msg));
    await turns();
    // One write busy and a full buffer: the reader waits while the client's pull goes on delivering.
    deliver(...queued.map((m) => m.msg));
    await turns();
    expect(queued.map((m) => m.seen.working)).toEqual([0, 0]);

    writes[0]?.finish();
    await turns();
    expect(writes[1]?.batch).toEqual([held[1]?.msg, held[2]?.msg]);
    expect(queued.map((m) => m.seen.working)).toEqual([1, 1]);
    writes[1]?.finish();
    await turns();
    writes[2]?.finish();
    await writer.stop();
  });

  it("gives back what it buffered on stop, and touches nothing afterwards", async () => {
    const { writer, writes, deliver } = loop({ concurrency: 1 });
    await writer.start();
    const [first, second] = [message(1), message(2)];
    deliver(first.msg);
    await turns();
    deliver(second.msg);
    await turns();
    const stopping = writer.stop();
    await turns();
    expect(second.seen.settled).toBe("nak");
    vi.advanceTimersByTime(ackWaitMs);
    expect(first.seen.working).toBe(3);
    expect(second.seen.workingAfterSettled).toBe(0);
    writes[0]?.finish();
    await stopping;
    expect(vi.getTimerCount()).toBe(0);
  });

  it("lets go of a write that failed unexpectedly, so ack_wait returns its messages", async () => {
    const { writer, writes, deliver } = loop({ concurrency: 1 });
    await writer.start();
    const first = message(1);
    deliver(first.msg);
    await turns();
    writes[0]?.fail(new Error("a bug"));
    await turns();
    vi.advanceTimersByTime(2 * ackWaitMs);
    expect(first.seen).toEqual({ working: 0, workingAfterSettled: 0, settled: undefined });
    await writer.stop();
  });
});

describe("WriterLoop groups what trickles in (group commit)", () => {
  it("writes what arrived during a write together once it ends, unless it fills a write", async () => {
    const { writer, writes, deliver } = loop({ concurrency: 4 });
    await writer.start();
    const [first, second, third] = [message(1), message(2), message(3)];
    deliver(first.msg);
    await turns();
    deliver(second.msg);
    await turns();
    deliver(third.msg);
    await turns();
    // Three writes were free, yet the two small messages wait for the first write.
    expect(writes.map((w) => w.batch)).toEqual([[first.msg]]);

    const full = message(4, 2000);
    deliver(full.msg);
    await turns();
    expect(writes.map((w) => w.batch)).toEqual([[first.msg], [second.msg, third.msg], [full.msg]]);
    for (const write of writes) write.finish();
    await writer.stop();
  });

  it("writes a lone message once the linger passes, on real timers", async () => {
    vi.useRealTimers();
    const { writer, writes, deliver } = loop({ concurrency: 4, writeLingerMs: 5 });
    await writer.start();
    // Each round a message alone, nothing after it: the linger's timer must be what writes it.
    for (let round = 1; round <= 20; round++) {
      const lone = message(round);
      deliver(lone.msg);
      const deadline = Date.now() + 2000;
      while (writes.length < round && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1));
      expect(writes.at(-1)?.batch, `round ${round}`).toEqual([lone.msg]);
      writes.at(-1)?.finish();
      await turns();
    }
    await writer.stop();
  });

  it("waits writeLingerMs for more before a write that is not full, and no longer", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout"] });
    const { writer, writes, deliver } = loop({ concurrency: 4, writeLingerMs: 20 });
    await writer.start();
    const [first, second, third] = [message(1), message(2), message(3)];
    deliver(first.msg);
    await turns();
    vi.advanceTimersByTime(15);
    deliver(second.msg);
    await turns();
    expect(writes).toHaveLength(0);
    vi.advanceTimersByTime(5);
    await turns();
    expect(writes.map((w) => w.batch)).toEqual([[first.msg, second.msg]]);

    // A full write does not wait.
    writes[0]?.finish();
    await turns();
    const full = message(4, 1999);
    deliver(third.msg, full.msg);
    await turns();
    expect(writes.map((w) => w.batch)).toEqual([
      [first.msg, second.msg],
      [third.msg, full.msg],
    ]);
    writes[1]?.finish();
    await writer.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
