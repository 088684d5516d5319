import { type DeadLetter, type FailureHistory, type HistoryStore, noHistory } from "@evpipe/shared";
import type { JetStreamClient, JsMsg } from "nats";
import { describe, expect, it } from "vitest";
import { createConsumerMetrics } from "./metrics.ts";
import { carryOut } from "./settle-executor.ts";
import type { Settlement } from "./settlement.ts";

const silent = { warn() {}, error() {}, info() {} } as unknown as Parameters<typeof carryOut>[3];
const transient = { kind: "transient", code: "40001", message: "retry me" } as const;
const letter: DeadLetter = {
  reason: "permanent_error",
  errorCode: "22023",
  errorMessage: "refused",
  events: undefined,
  attempts: 1,
  firstFailureAt: new Date(0),
  lastFailureAt: new Date(0),
};

/** What the executor did to one message, to the DLQ and to the history, in order. */
function world(
  options: { publishFails?: boolean; historyFails?: boolean; ackAckFails?: boolean; duplicate?: boolean } = {},
) {
  const calls: string[] = [];
  // Only the members carryOut uses; the rest of JsMsg is never touched.
  const msg = {
    info: { stream: "EVENTS", streamSequence: 7 },
    headers: undefined,
    data: new Uint8Array(),
    ack: () => calls.push("ack"),
    term: () => calls.push("term"),
    nak: (delay?: number) => calls.push(delay === undefined ? "nak" : `nak ${delay}`),
    ackAck: async () => {
      calls.push("ackAck");
      if (options.ackAckFails) throw new Error("timeout");
      return true;
    },
  } as unknown as JsMsg;
  const js = {
    publish: async () => {
      calls.push("publish");
      if (options.publishFails) throw new Error("DLQ unavailable");
      return { stream: "EVENTS_DLQ", seq: 1, duplicate: options.duplicate ?? false };
    },
  } as unknown as JetStreamClient;
  const history: HistoryStore = {
    read: async () => noHistory,
    write: async (_seq: number, h: FailureHistory) => {
      calls.push(`remember ${h.failures}`);
      if (options.historyFails) throw new Error("KV unavailable");
    },
    forget: async () => {
      calls.push("forget");
    },
  };
  const metrics = createConsumerMetrics(() => ({ state: "consuming", ready: true }));
  const run = (settlement: Settlement) =>
    carryOut({ js, dlqSubject: "events.dlq", history, metrics }, msg, settlement, silent);
  /** The value of one counter series, 0 when it was never incremented. */
  const counted = async (name: string, labels: Record<string, string>) => {
    const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
    const series = metric?.values.find((value) => Object.entries(labels).every(([k, v]) => value.labels[k] === v));
    return series?.value ?? 0;
  };
  return { calls, run, counted };
}

const retry = (delayMs: number): Settlement => ({
  kind: "retry",
  delayMs,
  deadLetters: [letter],
  history: { failures: 4, firstFailureAt: undefined, deadLettered: [] },
  failure: transient,
  failedCount: 2,
});

describe("carryOut", () => {
  it("publishes the dead letters, remembers the attempt, then naks with the retry delay", async () => {
    const { calls, run } = world();
    await run(retry(81_000));
    expect(calls).toEqual(["publish", "remember 4", "nak 81000"]);
  });

  it("retries within the duplicate window when the attempt could not be remembered", async () => {
    const { calls, run } = world({ historyFails: true });
    await run(retry(81_000));
    expect(calls).toEqual(["publish", "remember 4", "nak 30000"]);
  });

  it("settles nothing and remembers nothing when the DLQ does not take the dead letters", async () => {
    const { calls, run } = world({ publishFails: true });
    await run({ kind: "deadLetter", letters: [letter], finish: "ack", retryDelayMs: 9000, forgetHistory: true });
    expect(calls).toEqual(["publish", "nak 9000"]);
    const other = world({ publishFails: true });
    await other.run(retry(27_000));
    expect(other.calls).toEqual(["publish", "nak 27000"]);
  });

  it("forgets a history only once the server confirmed the ack", async () => {
    const confirmed = world();
    await confirmed.run({ kind: "ack", forgetHistory: true });
    expect(confirmed.calls).toEqual(["ackAck", "forget"]);
    const lost = world({ ackAckFails: true });
    await lost.run({ kind: "ack", forgetHistory: true });
    expect(lost.calls).toEqual(["ackAck"]);
  });

  it("acks without waiting when there is no history, and terminates what stored nothing", async () => {
    const plain = world();
    await plain.run({ kind: "ack", forgetHistory: false });
    expect(plain.calls).toEqual(["ack"]);
    const none = world();
    await none.run({ kind: "deadLetter", letters: [letter], finish: "term", retryDelayMs: 3000, forgetHistory: true });
    expect(none.calls).toEqual(["publish", "term"]);
  });

  it("gives a message back at once after an outage and after a delay after a transient halt", async () => {
    const outage = world();
    await outage.run({ kind: "giveBack", failure: { kind: "outage", code: "57P01", message: "" }, delayMs: 0 });
    expect(outage.calls).toEqual(["nak"]);
    const lookup = world();
    await lookup.run({ kind: "giveBack", failure: transient, delayMs: 3000 });
    expect(lookup.calls).toEqual(["nak 3000"]);
  });

  it("counts a retry by its failure's code and each dead letter by reason and code, once", async () => {
    const { run, counted } = world();
    await run(retry(3000));
    expect(await counted("evpipe_retries_total", { code: "40001" })).toBe(1);
    expect(await counted("evpipe_dead_letters_total", { reason: "permanent_error", code: "22023" })).toBe(1);
    await run({ kind: "deadLetter", letters: [letter], finish: "term", retryDelayMs: 3000, forgetHistory: false });
    expect(await counted("evpipe_dead_letters_total", { reason: "permanent_error", code: "22023" })).toBe(2);
  });

  it("counts no dead letter the DLQ already held or did not take", async () => {
    const again = world({ duplicate: true });
    await again.run({
      kind: "deadLetter",
      letters: [letter],
      finish: "term",
      retryDelayMs: 3000,
      forgetHistory: false,
    });
    expect(again.calls).toEqual(["publish", "term"]);
    expect(await again.counted("evpipe_dead_letters_total", {})).toBe(0);
    const refused = world({ publishFails: true });
    await refused.run(retry(3000));
    expect(await refused.counted("evpipe_dead_letters_total", {})).toBe(0);
    expect(await refused.counted("evpipe_retries_total", {})).toBe(0);
  });
});
