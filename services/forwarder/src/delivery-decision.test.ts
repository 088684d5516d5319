import { describe, expect, it } from "vitest";
import { type DeliveryOutcome, deliveryDecision, retryAfterMs } from "./delivery-decision.ts";

const policy = { unitMs: 1000, maxRetries: 5 };
const now = Date.parse("2026-11-30T12:00:00.000Z");
const answered = (status: number, retryAfter?: string): DeliveryOutcome => ({ kind: "answered", status, retryAfter });

describe("what becomes of a delivery", () => {
  it.each([
    ["200", answered(200), 1, { kind: "delivered" }],
    ["204", answered(204), 3, { kind: "delivered" }],
    ["503 on the first attempt: 3 s", answered(503), 1, { kind: "retry", delayMs: 3000, reason: "HTTP 503" }],
    ["500 on the fifth attempt: 243 s", answered(500), 5, { kind: "retry", delayMs: 243_000, reason: "HTTP 500" }],
    [
      "429 asking for longer than the backoff",
      answered(429, "60"),
      1,
      { kind: "retry", delayMs: 60_000, reason: "HTTP 429" },
    ],
    ["429 asking for less: the backoff", answered(429, "1"), 2, { kind: "retry", delayMs: 9000, reason: "HTTP 429" }],
    ["408", answered(408), 1, { kind: "retry", delayMs: 3000, reason: "HTTP 408" }],
    [
      "no answer",
      { kind: "unreachable", error: "ECONNREFUSED" } as DeliveryOutcome,
      2,
      { kind: "retry", delayMs: 9000, reason: "ECONNREFUSED" },
    ],
    [
      "503 after the fifth retry",
      answered(503),
      6,
      { kind: "deadLetter", reason: "retries_exhausted", detail: "HTTP 503" },
    ],
    ["400", answered(400), 1, { kind: "deadLetter", reason: "permanent_error", detail: "HTTP 400" }],
    [
      "401, even asking to retry",
      answered(401, "5"),
      1,
      { kind: "deadLetter", reason: "permanent_error", detail: "HTTP 401" },
    ],
    [
      "a partial 400: only the refused events",
      { kind: "answered", status: 400, refusedIds: ["a", "b"] } as DeliveryOutcome,
      1,
      { kind: "deadLetter", reason: "permanent_error", detail: "HTTP 400", ids: ["a", "b"] },
    ],
  ])("%s", (_, outcome, attempt, decision) => {
    expect(deliveryDecision(outcome, attempt, policy, now)).toEqual(decision);
  });
});

describe("Retry-After", () => {
  it("reads seconds and HTTP dates, and nothing else", () => {
    expect(retryAfterMs("120", now)).toBe(120_000);
    expect(retryAfterMs("Mon, 30 Nov 2026 12:00:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("Mon, 30 Nov 2026 11:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});
