import { dauResponse } from "@evpipe/shared/api-responses";
import { describe, expect, it } from "vitest";
import { isKeyProblem, parseAnswer, problemOf, retryAfterMs, retryDelayMs } from "./api.ts";

const envelope = (code: string, message: string) => ({ error: { code, message, request_id: "req-1" } });

describe("answers the page cannot use", () => {
  it("tells a wrong key from a key without the read scope", () => {
    const unauthorized = problemOf(401, envelope("UNAUTHORIZED", "Missing or invalid API key."));
    expect(unauthorized.kind).toBe("unauthorized");
    expect(unauthorized.message).toMatch(/did not accept this API key/);
    const forbidden = problemOf(403, envelope("FORBIDDEN", "The key lacks the read scope."));
    expect(forbidden.kind).toBe("forbidden");
    expect(forbidden.message).toMatch(/lacks the read scope/);
    expect([unauthorized, forbidden].every(isKeyProblem)).toBe(true);
  });

  it("quotes the envelope of a busy gateway, and says the status of anything else", () => {
    expect(problemOf(503, envelope("UNAVAILABLE", "The event store is unavailable."), 3000)).toEqual({
      kind: "busy",
      message: "The gateway cannot answer right now: The event store is unavailable. (request req-1).",
      retryAfterMs: 3000,
    });
    expect(problemOf(502, "<html>bad gateway</html>")).toEqual({
      kind: "unexpected",
      message: "The gateway answered 502.",
    });
    expect(isKeyProblem(problemOf(404, envelope("NOT_FOUND", "No event 1.")))).toBe(false);
  });

  it("waits as long as Retry-After asks, within bounds, and a default when it does not say", () => {
    const now = Date.parse("2026-11-01T10:00:00Z");
    expect(retryAfterMs("7", now)).toBe(7000);
    expect(retryAfterMs("Sun, 01 Nov 2026 10:00:30 GMT", now)).toBe(30_000);
    expect([retryAfterMs(null, now), retryAfterMs("soon", now), retryAfterMs("-1", now)]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    const busy = (retryAfter?: number) => problemOf(429, undefined, retryAfter);
    expect([retryDelayMs(busy(7000), 5000), retryDelayMs(busy(), 5000)]).toEqual([7000, 5000]);
    expect([retryDelayMs(busy(0), 5000), retryDelayMs(busy(3_600_000), 5000)]).toEqual([1000, 30_000]);
  });

  it("refuses a body that does not match the API's schema, naming the first bad field", () => {
    const good = { from: "2026-11-01", to: "2026-11-01", days: [{ day: "2026-11-01", users: 3 }] };
    expect(parseAnswer("/v1/stats/dau", dauResponse, good)).toEqual({ ok: true, value: good });
    const bad = parseAnswer("/v1/stats/dau", dauResponse, { ...good, days: [{ day: "2026-11-01", users: -1 }] });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problem.message).toMatch(/^The gateway's answer to \/v1\/stats\/dau .*\(days\.0\.users: /);
  });
});
