import { describe, expect, it } from "vitest";
import { DeadLetterTally, needsRecount, planTally } from "./dead-letter-tally.ts";

const cap = 100;

describe("planTally", () => {
  it("reads the whole stream the first time", () => {
    expect(planTally(0, { firstSeq: 1, lastSeq: 5, messages: 5 }, cap)).toEqual({
      kind: "read",
      restart: false,
      forgetBelow: 1,
      from: 1,
      to: 5,
    });
  });

  it("reads only the sequences after the last one read, forgetting those the stream no longer has", () => {
    expect(planTally(5, { firstSeq: 3, lastSeq: 9, messages: 7 }, cap)).toMatchObject({
      restart: false,
      forgetBelow: 3,
      from: 6,
      to: 9,
    });
  });

  it("reads nothing when nothing new arrived", () => {
    const plan = planTally(9, { firstSeq: 3, lastSeq: 9, messages: 7 }, cap);
    expect(plan).toMatchObject({ from: 10, to: 9 });
  });

  it("starts from the stream's first sequence when everything read has aged out since", () => {
    expect(planTally(5, { firstSeq: 20, lastSeq: 25, messages: 6 }, cap)).toMatchObject({ from: 20, to: 25 });
  });

  it("starts over when the last sequence went back: the stream was made anew", () => {
    expect(planTally(50, { firstSeq: 1, lastSeq: 3, messages: 3 }, cap)).toMatchObject({
      restart: true,
      from: 1,
      to: 3,
    });
  });

  it("tallies nothing above the cap", () => {
    expect(planTally(0, { firstSeq: 1, lastSeq: 101, messages: 101 }, cap)).toEqual({ kind: "overCap" });
    expect(planTally(0, { firstSeq: 1, lastSeq: 500, messages: 100 }, cap)).toMatchObject({ kind: "read" });
  });
});

describe("needsRecount", () => {
  it("asks for a recount when what is kept differs from what the stream holds (a replay deleted one inside)", () => {
    expect(needsRecount(7, { firstSeq: 3, lastSeq: 9, messages: 7 })).toBe(false);
    expect(needsRecount(7, { firstSeq: 3, lastSeq: 9, messages: 6 })).toBe(true);
  });
});

describe("DeadLetterTally", () => {
  it("counts by reason, forgets below a first sequence, and counts a sequence once", () => {
    const tally = new DeadLetterTally();
    tally.add(1, "permanent_error");
    tally.add(2, "retries_exhausted");
    tally.add(3, "permanent_error");
    tally.add(3, "permanent_error");
    tally.add(4, "unknown");
    expect(tally.byReason()).toEqual({ retries_exhausted: 1, permanent_error: 2 });
    expect(tally.size).toBe(4);
    expect(tally.readTo).toBe(4);
    tally.forgetBelow(3);
    expect(tally.byReason()).toEqual({ retries_exhausted: 0, permanent_error: 1 });
    expect(tally.size).toBe(2);
    tally.readUpTo(9);
    expect(tally.readTo).toBe(9);
    tally.clear();
    expect([tally.size, tally.readTo]).toEqual([0, 0]);
    expect(tally.byReason()).toEqual({ retries_exhausted: 0, permanent_error: 0 });
  });
});
