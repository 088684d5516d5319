import { gzipSync } from "node:zlib";
import { v5 } from "uuid";
import { describe, expect, it } from "vitest";
import { errorEnvelope } from "./testing/error-envelope.ts";
import { createTestGateway } from "./testing/test-deps.ts";

const now = Date.parse("2026-11-30T12:00:00.000Z");
const receivedAt = "2026-11-30T12:00:00.000Z";
const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString("base64")}`;
/** What message-id.ts must compute, written out here from the rule in PRODUCT.md §3. */
const mappedId = (messageId: string, keyId: string) => v5(messageId, v5(keyId, "5a0c3c52-8d7e-4b8f-9a3e-6f1d2c7b9e41"));

function setup() {
  const gateway = createTestGateway({ now: () => now });
  const { key, id: keyId } = gateway.issueKey(["ingest"]);
  const post = (path: string, body: unknown, headers: Record<string, string> = { authorization: basic(key) }) =>
    gateway.app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  return { gateway, key, keyId, post };
}

describe("POST /v1/batch", () => {
  it("turns each kind of call into our event, keeping the whole message", async () => {
    const { gateway, keyId, post } = setup();
    const sentAt = "2026-11-30T12:00:00.000Z";
    const batch = [
      { type: "track", event: "Signed Up", userId: "u1", messageId: "node-next-1", properties: { plan: "pro" } },
      { type: "identify", anonymousId: "anon-1", traits: { email: "a@example.com" }, messageId: "m-2" },
      { type: "page", userId: "u1", anonymousId: "anon-1", name: "Pricing", messageId: "m-3" },
      { type: "screen", userId: "u1", messageId: "m-4", properties: { x: 1 } },
      { type: "group", userId: "u1", groupId: "g1", traits: { seats: 5 }, messageId: "m-5" },
      {
        type: "alias",
        userId: "u1",
        previousId: "anon-1",
        messageId: "0192E4C2-7F1A-4000-8000-00000000ABCD",
        custom: { kept: true },
      },
    ];
    const res = await post("/v1/batch", { batch, sentAt, context: { library: { name: "test" } } });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toEqual({ success: true, accepted: 6 });
    const provenance = { received_at: receivedAt, request_id: res.headers.get("x-request-id"), key_id: keyId };
    const stored = (message: Record<string, unknown>) => ({
      sentAt,
      context: { library: { name: "test" } },
      ...message,
    });
    const [track, identify, page, screen, group, alias] = batch as Array<Record<string, unknown>>;
    expect(gateway.published).toHaveLength(1);
    expect(gateway.published[0]?.events).toEqual([
      {
        id: mappedId("node-next-1", keyId),
        type: "track",
        event: "Signed Up",
        user_id: "u1",
        client_ts: receivedAt,
        metadata: stored(track ?? {}),
        ...provenance,
      },
      {
        id: mappedId("m-2", keyId),
        type: "identify",
        event: "identify",
        user_id: "anon-1",
        anonymous_id: "anon-1",
        client_ts: receivedAt,
        metadata: stored(identify ?? {}),
        ...provenance,
      },
      {
        id: mappedId("m-3", keyId),
        type: "page",
        event: "Pricing",
        user_id: "u1",
        anonymous_id: "anon-1",
        client_ts: receivedAt,
        metadata: stored(page ?? {}),
        ...provenance,
      },
      {
        id: mappedId("m-4", keyId),
        type: "screen",
        event: "screen",
        user_id: "u1",
        client_ts: receivedAt,
        metadata: stored(screen ?? {}),
        ...provenance,
      },
      {
        id: mappedId("m-5", keyId),
        type: "group",
        event: "group",
        user_id: "u1",
        client_ts: receivedAt,
        metadata: stored(group ?? {}),
        ...provenance,
      },
      {
        id: "0192e4c2-7f1a-4000-8000-00000000abcd",
        type: "alias",
        event: "alias",
        user_id: "u1",
        client_ts: receivedAt,
        metadata: stored(alias ?? {}),
        ...provenance,
      },
    ]);
  });

  it("gives the same messageId the same id on every request, and a UUIDv7 to a message without one", async () => {
    const { gateway, post } = setup();
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await post("/v1/batch", {
        batch: [{ type: "track", event: "e", userId: "u", messageId: "retry-1" }],
      });
      expect(res.status).toBe(200);
    }
    await post("/v1/batch", { batch: [{ type: "track", event: "e", userId: "u" }] });
    const ids = gateway.published.map((message) => message.events[0]?.id);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).toMatch(uuidV7);
  });

  it("corrects a client clock an hour ahead from originalTimestamp and sentAt, keeping both as sent", async () => {
    const { gateway, post } = setup();
    const message = { type: "track", event: "e", userId: "u", originalTimestamp: "2026-11-30T12:59:58.000Z" };
    await post("/v1/batch", { batch: [message], sentAt: "2026-11-30T13:00:00.000Z" });
    const event = gateway.published[0]?.events[0];
    expect(event?.client_ts).toBe("2026-11-30T11:59:58.000Z");
    expect(event?.metadata).toEqual({ ...message, sentAt: "2026-11-30T13:00:00.000Z" });
  });

  it("lets a message inherit only sentAt, context and integrations from its batch", async () => {
    const { gateway, post } = setup();
    // rudder-sdk-node puts its send time in a batch-level `timestamp`: not any message's event time.
    const message = { type: "track", event: "e", userId: "u", originalTimestamp: "2026-11-30T11:59:00.000Z" };
    const sentAt = "2026-11-30T11:59:30.000Z";
    await post("/v1/batch", { batch: [message], sentAt, timestamp: sentAt, extra: 1, integrations: { All: true } });
    const event = gateway.published[0]?.events[0];
    expect(event?.metadata).toEqual({ ...message, sentAt, integrations: { All: true } });
    expect(event?.client_ts).toBe("2026-11-30T11:59:30.000Z");
  });

  it("takes what the SDKs send for absent values: null fields, numeric ids, a null batch context", async () => {
    const { gateway, post } = setup();
    const batch = [
      { type: "track", event: "e", userId: null, anonymousId: "anon-1", properties: null, messageId: null },
      { type: "identify", userId: 42, anonymousId: null, traits: null, integrations: null },
      { type: "group", userId: "u1", groupId: 7 },
      { type: "alias", userId: "u1", previousId: 99 },
      { type: "page", userId: "u1", name: `A ${"very ".repeat(30)}long name` },
      { type: "screen", userId: "u1", name: "Line\nbreak" },
    ];
    const res = await post("/v1/batch", { batch, context: null, integrations: null, writeKey: null });
    expect(await res.json()).toEqual({ success: true, accepted: 6 });
    const events = gateway.published[0]?.events ?? [];
    expect(events.map(({ user_id, anonymous_id, event }) => ({ user_id, anonymous_id, event }))).toEqual([
      { user_id: "anon-1", anonymous_id: "anon-1", event: "e" },
      { user_id: "42", anonymous_id: undefined, event: "identify" },
      { user_id: "u1", anonymous_id: undefined, event: "group" },
      { user_id: "u1", anonymous_id: undefined, event: "alias" },
      // A name that is not a valid event name leaves the event named by its type; the name stays in metadata.
      { user_id: "u1", anonymous_id: undefined, event: "page" },
      { user_id: "u1", anonymous_id: undefined, event: "screen" },
    ]);
    expect(events[0]?.metadata).toEqual(batch[0]);
  });

  it("keeps every key of a message as sent, even those an object schema would skip", async () => {
    const { gateway } = setup();
    const { key } = gateway.issueKey(["ingest"]);
    const text =
      '{"batch":[{"type":"track","event":"e","userId":"u","constructor":"c","prototype":1,"__proto__":{"x":1}}]}';
    const res = await gateway.app.request("/v1/batch", {
      method: "POST",
      headers: { authorization: basic(key) },
      body: text,
    });
    expect(await res.json()).toEqual({ success: true, accepted: 1 });
    const metadata = gateway.published[0]?.events[0]?.metadata ?? {};
    expect(Object.keys(metadata)).toEqual(["type", "event", "userId", "constructor", "prototype", "__proto__"]);
  });

  it("reports each bad message in the 200 body, by index and path, and accepts the others", async () => {
    const { gateway, post } = setup();
    const batch = [
      { type: "track", event: "ok", userId: "u1" },
      { type: "track", event: "no user", messageId: "m-1" },
      { type: "purchase", userId: "u1" },
      { type: "track", userId: "u1" },
      "not a message",
      { type: "track", event: "big", userId: "u1", properties: { blob: "x".repeat(33 * 1024) } },
      { type: "alias", previousId: "anon", anonymousId: "a" },
      { type: "track", event: "e", userId: "u1", messageId: "m".repeat(101) },
      { type: "track", event: "ok too", anonymousId: "a1" },
      { event: "no type", userId: "u1" },
    ];
    const res = await post("/v1/batch", { batch });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toEqual({
      success: true,
      accepted: 2,
      rejected: [
        { index: 1, messageId: "m-1", details: { "batch.1.userId": ["is required when there is no anonymousId"] } },
        { index: 2, details: { "batch.2.type": ["must be one of track, identify, page, screen, group, alias"] } },
        { index: 3, details: { "batch.3.event": ["is required for a track call"] } },
        { index: 4, details: { "batch.4": ["must be a JSON object"] } },
        { index: 5, details: { "batch.5": ["the message must be at most 32768 bytes serialized"] } },
        { index: 6, details: { "batch.6.userId": ["is required for an alias call"] } },
        {
          index: 7,
          messageId: "m".repeat(101),
          details: { "batch.7.messageId": ["must be a string of 1 to 100 characters"] },
        },
        { index: 9, details: { "batch.9.type": ["is required"] } },
      ],
    });
    expect(gateway.published[0]?.events.map((event) => event.event)).toEqual(["ok", "ok too"]);
  });

  it("publishes nothing when no message is usable, and still answers 200 with the reasons", async () => {
    const { gateway, post } = setup();
    const res = await post("/v1/batch", { batch: [{ type: "track", event: "e" }] });
    expect(await res.json()).toEqual({
      success: true,
      accepted: 0,
      rejected: [{ index: 0, details: { "batch.0.userId": ["is required when there is no anonymousId"] } }],
    });
    expect(gateway.published).toEqual([]);
  });

  it("takes the write key from the body, as analytics-node also sends it, and never stores it", async () => {
    const { gateway, key, post } = setup();
    const res = await post(
      "/v1/batch",
      { writeKey: key, batch: [{ type: "track", event: "e", userId: "u", writeKey: key }] },
      {},
    );
    expect(res.status, await res.clone().text()).toBe(200);
    expect(JSON.stringify(gateway.published)).not.toContain(key);
  });

  it("reads a gzip body sent as x-www-form-urlencoded, as the RudderStack SDK sends it", async () => {
    const { gateway, key } = setup();
    const body = gzipSync(JSON.stringify({ batch: [{ type: "track", event: "e", userId: "u" }] }));
    const res = await gateway.app.request("/v1/batch", {
      method: "POST",
      headers: {
        authorization: basic(key),
        "content-type": "application/x-www-form-urlencoded",
        "content-encoding": "gzip",
      },
      body,
    });
    expect(await res.json()).toEqual({ success: true, accepted: 1 });
    expect(gateway.published).toHaveLength(1);
  });

  it("answers 503 with Retry-After when JetStream does not acknowledge", async () => {
    const { gateway, post } = setup();
    gateway.failPublishesWith(new Error("no PubAck within 3000 ms"));
    const res = await post("/v1/batch", { batch: [{ type: "track", event: "e", userId: "u" }] });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await res.json()).toEqual(
      errorEnvelope(res.headers, "UNAVAILABLE", "The event bus did not acknowledge in time; retry with the same ids."),
    );
  });
});

describe("the single-call routes", () => {
  it("take one message whose type is the route's", async () => {
    const { gateway, post } = setup();
    const res = await post("/v1/page", { type: "track", userId: "u", name: "Home", messageId: "p-1" });
    expect(await res.json()).toEqual({ success: true, accepted: 1 });
    expect(gateway.published[0]?.events[0]).toMatchObject({ type: "page", event: "Home", user_id: "u" });
  });

  it("answer 400 naming each bad field when their message is unusable", async () => {
    const { gateway, post } = setup();
    const res = await post("/v1/group", { userId: "u" });
    const body = await res.json();
    expect(res.status).toBe(400);
    expect(body).toEqual(
      errorEnvelope(res.headers, "VALIDATION_ERROR", "1 field(s) of the message are invalid.", {
        groupId: ["is required for a group call"],
      }),
    );
    expect(gateway.published).toEqual([]);
  });
});
