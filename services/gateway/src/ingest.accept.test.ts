import { describe, expect, it } from "vitest";
import { errorEnvelope } from "./testing/error-envelope.ts";
import { createTestGateway } from "./testing/test-deps.ts";

const now = Date.parse("2026-11-23T12:00:00.000Z");
const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function setup() {
  const gateway = createTestGateway({ now: () => now });
  const { key, id: keyId } = gateway.issueKey(["ingest"]);
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    gateway.app.request(path, {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  return { gateway, keyId, post };
}

describe("POST /v1/events", () => {
  it("answers 202 with a UUIDv7 and publishes one message carrying the event, request id and key id", async () => {
    const { gateway, keyId, post } = setup();
    const event = {
      event: "signup",
      user_id: "u-1",
      client_ts: "2026-11-23T11:00:00+01:00",
      metadata: { plan: "pro" },
    };
    const res = await post("/v1/events", event, { "x-request-id": "req-123.abc_D" });
    const body = (await res.json()) as { id: string };
    expect(res.status, JSON.stringify(body)).toBe(202);
    expect(body).toEqual({
      id: expect.stringMatching(uuidV7),
      status: "accepted",
      received_at: "2026-11-23T12:00:00.000Z",
    });
    expect(res.headers.get("x-request-id")).toBe("req-123.abc_D");
    expect(gateway.published).toEqual([
      {
        requestId: "req-123.abc_D",
        events: [
          {
            ...event,
            id: body.id,
            received_at: "2026-11-23T12:00:00.000Z",
            request_id: "req-123.abc_D",
            key_id: keyId,
          },
        ],
      },
    ]);
  });

  it("keeps the producer's id, lower-cased, so its retries are idempotent", async () => {
    const { gateway, post } = setup();
    const res = await post("/v1/events", { id: "0192E4C2-7F1A-4000-8000-00000000ABCD", event: "e", user_id: "u" });
    expect(await res.json()).toMatchObject({ id: "0192e4c2-7f1a-4000-8000-00000000abcd" });
    expect(gateway.published[0]?.events[0]?.id).toBe("0192e4c2-7f1a-4000-8000-00000000abcd");
  });

  it("answers 503 UNAVAILABLE with Retry-After when JetStream does not acknowledge", async () => {
    const { gateway, post } = setup();
    gateway.failPublishesWith(Object.assign(new Error("TIMEOUT"), { code: "TIMEOUT" }));
    const res = await post("/v1/events", { event: "e", user_id: "u" });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(body).toEqual(
      errorEnvelope(res.headers, "UNAVAILABLE", "The event bus did not acknowledge in time; retry with the same ids."),
    );
  });
});

describe("POST /v1/events/batch", () => {
  it("answers 202 with every id in order and publishes the whole batch as one message", async () => {
    const { gateway, post } = setup();
    const given = "0192e4c2-7f1a-7000-8000-000000000001";
    const res = await post("/v1/events/batch", {
      events: [
        { event: "a", user_id: "u1" },
        { id: given, event: "b", user_id: "u2" },
        { event: "c", user_id: "u3" },
      ],
    });
    const body = (await res.json()) as { ids: string[] };
    expect(res.status, JSON.stringify(body)).toBe(202);
    expect(body).toEqual({
      accepted: 3,
      ids: [expect.stringMatching(uuidV7), given, expect.stringMatching(uuidV7)],
      received_at: "2026-11-23T12:00:00.000Z",
    });
    expect(new Set(body.ids).size).toBe(3);
    expect(gateway.published).toHaveLength(1);
    expect(gateway.published[0]?.events.map((e) => [e.id, e.event])).toEqual([
      [body.ids[0], "a"],
      [given, "b"],
      [body.ids[2], "c"],
    ]);
  });
});

describe("request ids", () => {
  it.each([
    ["has a space", "bad id"],
    ["is 129 characters long", "r".repeat(129)],
    ["has a slash", "a/b"],
    ["is empty", ""],
  ])("replaces an X-Request-Id that %s with a generated one", async (_why, offered) => {
    const { post } = setup();
    const res = await post("/v1/events", { event: "e", user_id: "u" }, { "x-request-id": offered });
    expect(res.headers.get("x-request-id")).toMatch(uuidV7);
  });

  it("accepts one of 128 allowed characters", async () => {
    const { post } = setup();
    const offered = "A-z.0_9".repeat(18).slice(0, 128);
    const res = await post("/v1/events", { event: "e", user_id: "u" }, { "x-request-id": offered });
    expect(res.headers.get("x-request-id")).toBe(offered);
  });

  it("returns the request id on errors and on routes without auth", async () => {
    const { gateway } = setup();
    for (const path of ["/healthz", "/readyz", "/nope"]) {
      const res = await gateway.app.request(path, { headers: { "x-request-id": "trace-1" } });
      expect(res.headers.get("x-request-id"), path).toBe("trace-1");
    }
  });
});

describe("health, readiness and unknown routes", () => {
  it("answers /healthz with 200", async () => {
    const { gateway } = setup();
    const res = await gateway.app.request("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("answers /readyz with 503 and the failing check when not ready", async () => {
    const gateway = createTestGateway({
      readiness: async () => ({ ready: false, checks: { nats: true, streams: false } }),
    });
    const res = await gateway.app.request("/readyz");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "not_ready", checks: { nats: true, streams: false } });
  });

  it("answers an unknown route with the 404 envelope", async () => {
    const { gateway } = setup();
    const res = await gateway.app.request("/v2/events", { method: "POST" });
    const body = await res.json();
    expect(res.status).toBe(404);
    expect(body).toEqual(errorEnvelope(res.headers, "NOT_FOUND", "No route for POST /v2/events."));
  });

  it("turns an unexpected error into a generic 500 that leaks nothing", async () => {
    const gateway = createTestGateway({
      readiness: async () => {
        throw new Error("password=hunter2 in a stack trace");
      },
    });
    const res = await gateway.app.request("/readyz");
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(text).not.toContain("hunter2");
    expect(JSON.parse(text)).toEqual(
      errorEnvelope(res.headers, "INTERNAL", "Internal error; quote the request id when reporting it."),
    );
  });
});
