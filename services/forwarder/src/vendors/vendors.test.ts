import { createHmac } from "node:crypto";
import type { EnvelopeEvent } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { vendors } from "./index.ts";

const now = Date.parse("2026-11-30T12:00:00.000Z");
const provenance = { received_at: "2026-11-30T11:59:59.500Z", request_id: "req-1", key_id: "key-1" };
const ours: EnvelopeEvent = {
  id: "0192e4c2-7f1a-7000-8000-00000000abcd",
  event: "signup",
  user_id: "u1",
  client_ts: "2026-11-30T11:59:58.000Z",
  metadata: { plan: "pro" },
  ...provenance,
};
const message = {
  type: "identify",
  anonymousId: "anon-1",
  userId: "u2",
  traits: { email: "a@example.com" },
  context: { library: { name: "@segment/analytics-node" } },
  messageId: "node-next-1",
  sentAt: "2026-11-30T11:59:59.000Z",
};
const fromSegment: EnvelopeEvent = {
  id: "5b7e0a48-3c4d-5e6f-8a9b-0c1d2e3f4a5b",
  event: "identify",
  user_id: "u2",
  type: "identify",
  anonymous_id: "anon-1",
  metadata: message,
  ...provenance,
};
const target = { url: "http://vendor.test/base/", secret: "s3cret" };
const basic = `Basic ${Buffer.from("s3cret:").toString("base64")}`;

describe("Segment", () => {
  it("sends /v1/batch with the write key, the event id as messageId, a Segment message as it came", () => {
    const request = vendors.segment.request(target, [ours, fromSegment], now);
    expect(request.url).toBe("http://vendor.test/base/v1/batch");
    expect(request.headers).toEqual({ "Content-Type": "application/json", Authorization: basic });
    const { sentAt: _, ...kept } = message;
    expect(JSON.parse(request.body)).toEqual({
      batch: [
        {
          type: "track",
          event: "signup",
          userId: "u1",
          properties: { plan: "pro" },
          context: { library: { name: "evpipe" } },
          messageId: ours.id,
          timestamp: "2026-11-30T11:59:58.000Z",
        },
        { ...kept, messageId: fromSegment.id, timestamp: provenance.received_at },
      ],
      sentAt: "2026-11-30T12:00:00.000Z",
    });
  });
});

describe("PostHog", () => {
  it("sends /batch/ with the project key in the body and the event id as uuid", () => {
    const request = vendors.posthog.request(target, [ours, fromSegment], now);
    expect(request.url).toBe("http://vendor.test/base/batch/");
    expect(request.headers).toEqual({ "Content-Type": "application/json" });
    expect(JSON.parse(request.body)).toEqual({
      api_key: "s3cret",
      batch: [
        {
          event: "signup",
          distinct_id: "u1",
          properties: { plan: "pro", distinct_id: "u1" },
          timestamp: "2026-11-30T11:59:58.000Z",
          uuid: ours.id,
        },
        {
          event: "identify",
          distinct_id: "u2",
          properties: { email: "a@example.com", distinct_id: "u2" },
          timestamp: provenance.received_at,
          uuid: fromSegment.id,
        },
      ],
    });
  });
});

describe("Mixpanel", () => {
  it("sends /import?strict=1 with the token as Basic user, time in ms and the event id as $insert_id", () => {
    const request = vendors.mixpanel.request(target, [ours], now);
    expect(request.url).toBe("http://vendor.test/base/import?strict=1");
    expect(request.headers).toEqual({ "Content-Type": "application/json", Authorization: basic });
    expect(JSON.parse(request.body)).toEqual([
      {
        event: "signup",
        properties: {
          plan: "pro",
          time: Date.parse("2026-11-30T11:59:58.000Z"),
          distinct_id: "u1",
          $insert_id: ours.id,
        },
      },
    ]);
  });

  it("reads which events a strict 400 refused, by insert_id or index", () => {
    const body = JSON.stringify({
      code: 400,
      num_records_imported: 1,
      status: "Bad Request",
      failed_records: [{ index: 1, insert_id: fromSegment.id, field: "properties.time", message: "too old" }],
    });
    expect(vendors.mixpanel.refusedIds?.(400, body, [ours, fromSegment])).toEqual([fromSegment.id]);
    const byIndex = JSON.stringify({ failed_records: [{ index: 0 }] });
    expect(vendors.mixpanel.refusedIds?.(400, byIndex, [ours, fromSegment])).toEqual([ours.id]);
    expect(vendors.mixpanel.refusedIds?.(400, "not json", [ours])).toBeUndefined();
    expect(vendors.mixpanel.refusedIds?.(401, body, [ours])).toBeUndefined();
  });
});

describe("webhook", () => {
  it("posts the events as stored, signed over timestamp and body, with an idempotency key of their ids", () => {
    const request = vendors.webhook.request({ url: "http://hooks.test/in?x=1", secret: "s3cret" }, [ours], now);
    expect(request.url).toBe("http://hooks.test/in?x=1");
    expect(JSON.parse(request.body)).toEqual({ events: [ours] });
    expect(request.headers["X-Evpipe-Timestamp"]).toBe(String(now / 1000));
    // What a receiver computes, written out here rather than taken from the module.
    const expected = createHmac("sha256", "s3cret")
      .update(`${now / 1000}.${request.body}`)
      .digest("hex");
    expect(request.headers["X-Evpipe-Signature"]).toBe(`sha256=${expected}`);
    const again = vendors.webhook.request({ url: "http://hooks.test/in", secret: "s3cret" }, [ours], now + 60_000);
    expect(again.headers["Idempotency-Key"]).toBe(request.headers["Idempotency-Key"]);
    const other = vendors.webhook.request({ url: "http://hooks.test/in", secret: "s3cret" }, [fromSegment], now);
    expect(other.headers["Idempotency-Key"]).not.toBe(request.headers["Idempotency-Key"]);
  });
});
