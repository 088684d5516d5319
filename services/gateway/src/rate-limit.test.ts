import { describe, expect, it } from "vitest";
import { errorEnvelope } from "./testing/error-envelope.ts";
import { createTestGateway } from "./testing/test-deps.ts";

describe("per-key rate limit", () => {
  function setup(limits: { rate?: number; burst?: number }) {
    let now = Date.parse("2026-11-23T12:00:00Z");
    const gateway = createTestGateway({ now: () => now });
    const { key } = gateway.issueKey(["ingest"], limits);
    const post = () =>
      gateway.app.request("/v1/events", {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json" },
        body: JSON.stringify({ event: "e", user_id: "u" }),
      });
    return { gateway, post, advance: (ms: number) => (now += ms) };
  }

  it("lets a burst through, answers 429 with Retry-After beyond it, and recovers at the key's rate", async () => {
    const { gateway, post, advance } = setup({ rate: 2, burst: 4 });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post()).status);
    expect(statuses).toEqual([202, 202, 202, 202, 429, 429]);

    const limited = await post();
    const body = await limited.json();
    expect(limited.status).toBe(429);
    // One token comes back every 500 ms at 2/s: the next request can go in at most 1 s.
    expect(limited.headers.get("retry-after")).toBe("1");
    expect(body).toEqual(
      errorEnvelope(
        limited.headers,
        "RATE_LIMITED",
        "This API key's request rate is exceeded; retry after the given seconds.",
      ),
    );
    expect(gateway.published).toHaveLength(4);

    advance(500);
    expect((await post()).status).toBe(202);
    expect((await post()).status).toBe(429);
    advance(10_000);
    const refilled: number[] = [];
    for (let i = 0; i < 5; i++) refilled.push((await post()).status);
    expect(refilled).toEqual([202, 202, 202, 202, 429]);
  });

  it("says how long to wait when the rate is below one per second", async () => {
    const { post } = setup({ rate: 0.2, burst: 1 });
    expect((await post()).status).toBe(202);
    const limited = await post();
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("5");
  });

  it("counts each key separately, and defaults to 1000/s with a burst of 2000", async () => {
    const gateway = createTestGateway({ now: () => 0 });
    const a = gateway.issueKey(["ingest"], { rate: 1, burst: 1 });
    const b = gateway.issueKey(["ingest"]);
    const send = (key: string) =>
      gateway.app.request("/v1/events", {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json" },
        body: JSON.stringify({ event: "e", user_id: "u" }),
      });
    expect((await send(a.key)).status).toBe(202);
    expect((await send(a.key)).status).toBe(429);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 2001; i++) {
      const status = (await send(b.key)).status;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 202: 2000, 429: 1 });
  });
});
