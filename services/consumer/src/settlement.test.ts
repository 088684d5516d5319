import type { Failure } from "@evpipe/db";
import { type EnvelopeEvent, encodeDeadLetter, type FailureHistory, noHistory } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { type Delivery, type Settlement, settle, type WriteOutcome } from "./settlement.ts";

const now = new Date("2026-11-30T12:00:00.000Z");
const context = { now, retryDelayUnitMs: 1000 };
const event = (id: string): EnvelopeEvent => ({
  id,
  event: "e",
  user_id: `user-${id}`,
  received_at: "2026-11-30T11:59:59.000Z",
  request_id: "req",
  key_id: "key",
});
const [a, b, c] = [event("a"), event("b"), event("c")];
const permanent: Failure = { kind: "permanent", code: "22023", message: "refused" };
const transient: Failure = { kind: "transient", code: "40001", message: "serialization failure" };
const readable = (events: EnvelopeEvent[], history: FailureHistory = noHistory): Delivery => ({
  kind: "readable",
  events,
  history,
});
const written = (failures: Record<string, Failure> = {}): WriteOutcome => ({
  kind: "written",
  failures: new Map(Object.entries(failures)),
});
const history = (failures: number, deadLettered: string[] = []): FailureHistory => ({
  failures,
  firstFailureAt: "2026-11-30T11:00:00.000Z",
  deadLettered,
});
const letterSummary = (settlement: Settlement) => {
  const letters =
    settlement.kind === "deadLetter" ? settlement.letters : settlement.kind === "retry" ? settlement.deadLetters : [];
  return letters.map((l) => [l.reason, l.errorCode, l.attempts, l.events?.map((e) => e.id)]);
};

describe("settle", () => {
  it("acks a delivery whose events are all stored", () => {
    expect(settle(readable([a, b]), written(), context)).toEqual({ kind: "ack", forgetHistory: false });
  });

  it("dead-letters a permanent failure on its first delivery and acks the stored rest", () => {
    const settlement = settle(readable([a, b]), written({ b: permanent }), context);
    expect(settlement).toMatchObject({ kind: "deadLetter", finish: "ack" });
    expect(letterSummary(settlement)).toEqual([["permanent_error", "22023", 1, ["b"]]]);
  });

  it("terminates a message none of whose events could be stored", () => {
    const settlement = settle(readable([a, b]), written({ a: permanent, b: permanent }), context);
    expect(settlement).toMatchObject({ kind: "deadLetter", finish: "term" });
    expect(letterSummary(settlement)).toEqual([["permanent_error", "22023", 1, ["a", "b"]]]);
  });

  it("retries a transient failure after 3^attempt units and remembers the attempt", () => {
    const settlement = settle(readable([a, b]), written({ a: transient }), context);
    expect(settlement).toMatchObject({
      kind: "retry",
      delayMs: 3000,
      deadLetters: [],
      history: { failures: 1, firstFailureAt: now.toISOString(), deadLettered: [] },
      failedCount: 1,
    });
  });

  it("dead-letters the permanent failure at once while retrying the transient one of the same message", () => {
    const settlement = settle(readable([a, b, c]), written({ a: transient, b: permanent }), context);
    expect(settlement).toMatchObject({ kind: "retry", delayMs: 3000, history: { failures: 1, deadLettered: ["b"] } });
    expect(letterSummary(settlement)).toEqual([["permanent_error", "22023", 1, ["b"]]]);
  });

  it.each([
    [1, 9000],
    [2, 27000],
    [3, 81000],
    [4, 243000],
  ])("after %i failed deliveries waits %i ms", (failures, delayMs) => {
    expect(settle(readable([a], history(failures)), written({ a: transient }), context)).toMatchObject({
      kind: "retry",
      delayMs,
      history: { failures: failures + 1 },
    });
  });

  it("dead-letters a transient failure on the 6th failed delivery, dated from its first failure", () => {
    const settlement = settle(readable([a, b], history(5)), written({ a: transient }), context);
    expect(settlement).toMatchObject({ kind: "deadLetter", finish: "ack", forgetHistory: true });
    expect(letterSummary(settlement)).toEqual([["retries_exhausted", "40001", 6, ["a"]]]);
    if (settlement.kind !== "deadLetter") throw new Error("expected a dead letter");
    expect(settlement.letters[0]?.firstFailureAt.toISOString()).toBe("2026-11-30T11:00:00.000Z");
    expect(settlement.letters[0]?.lastFailureAt).toEqual(now);
  });

  it("does not dead-letter again what an earlier delivery dead-lettered", () => {
    const settlement = settle(readable([a, b, c], history(2, ["b"])), written({ a: transient }), context);
    expect(settlement).toMatchObject({ kind: "retry", deadLetters: [], history: { failures: 3, deadLettered: ["b"] } });
    const exhausted = settle(readable([a, b], history(5, ["b"])), written({ a: transient }), context);
    expect(exhausted).toMatchObject({ kind: "deadLetter", finish: "term" });
    expect(letterSummary(exhausted)).toEqual([["retries_exhausted", "40001", 6, ["a"]]]);
  });

  it("acks a redelivery whose events an earlier delivery stored, and forgets its history", () => {
    expect(settle(readable([a, b], history(1, ["b"])), written(), context)).toEqual({
      kind: "ack",
      forgetHistory: true,
    });
  });

  it("after a crash between the dead letter's PubAck and the ack, repeats the same dead letter, which JetStream deduplicates", () => {
    const first = settle(readable([a, b]), written({ b: permanent }), context);
    const again = settle(readable([a, b]), written({ b: permanent }), {
      ...context,
      now: new Date(now.getTime() + 30_000),
    });
    if (first.kind !== "deadLetter" || again.kind !== "deadLetter") throw new Error("expected dead letters");
    const origin = { stream: "EVENTS", seq: 7, requestId: "req", data: new Uint8Array() };
    expect(again.letters.map((l) => encodeDeadLetter(l, origin).msgID)).toEqual(
      first.letters.map((l) => encodeDeadLetter(l, origin).msgID),
    );
  });

  it("dead-letters an unreadable envelope as it is and terminates it", () => {
    const failure: Failure = { kind: "permanent", code: "ENVELOPE_INVALID", message: "bad" };
    const settlement = settle({ kind: "unreadable", failure, history: noHistory }, written(), context);
    expect(settlement).toMatchObject({ kind: "deadLetter", finish: "term" });
    expect(letterSummary(settlement)).toEqual([["permanent_error", "ENVELOPE_INVALID", 1, undefined]]);
  });

  it.each([
    ["an outage", { kind: "outage", code: "57P01", message: "terminating connection" }],
    ["a bug", { kind: "bug", code: "42P01", message: "relation does not exist" }],
  ] as const)("gives the message back uncounted after %s, at once: pulling stops until it is over", (_, failure) => {
    expect(settle(readable([a], history(2)), { kind: "halted", failure }, context)).toEqual({
      kind: "giveBack",
      failure,
      delayMs: 0,
    });
  });

  it("gives the message back uncounted, after a delay, when a lookup failed transiently", () => {
    const failure: Failure = { kind: "transient", code: "HISTORY_UNAVAILABLE", message: "history unread" };
    expect(settle(readable([a], history(2)), { kind: "halted", failure }, context)).toEqual({
      kind: "giveBack",
      failure,
      delayMs: 3000,
    });
  });
});
