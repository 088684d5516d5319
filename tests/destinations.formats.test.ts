import { createHash, createHmac, randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { useDestinations } from "./support/destinations.ts";
import { type BatchAccepted, postJson } from "./support/http.ts";
import { uniqueId } from "./support/pipeline.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { basicAuth, eventIdOf, postSegment, storedOnce } from "./support/segment-clients.ts";
import type { SinkRequest, VendorFormat, VendorSink } from "./support/vendor-sink.ts";

const services = usePipelineServices();
const destinations = useDestinations(services);
const secrets: Record<VendorFormat, string> = {
  segment: "seg-write-key-0001",
  posthog: "phc_project_api_key_0001",
  mixpanel: "mixpanel-project-token-0001",
  webhook: "whsec-signing-secret-0001",
};
const sinks = {} as Record<VendorFormat, VendorSink>;

beforeAll(async () => {
  for (const type of ["segment", "posthog", "mixpanel", "webhook"] as const) {
    sinks[type] = await destinations.sink(type);
    // A base URL with a path of its own, as a self-hosted or proxied vendor has.
    const url = type === "webhook" ? `${sinks[type].url}/hooks/in?tenant=a` : `${sinks[type].url}/tenant-a`;
    await destinations.add(`fmt-${type}`, { type, url, secret: secrets[type] });
  }
});

type Item = Record<string, unknown>;

/** Each id's item (message, event) in the first request that was answered 2xx with it, and that request. */
function delivered(sink: VendorSink, ids: readonly string[], items: (request: SinkRequest) => Item[]) {
  return ids.map((id) => {
    const request = sink.requests.find((r) => r.delivered.includes(id));
    if (!request) throw new Error(`${id} was not delivered: ${sink.report()}`);
    const item = items(request)[request.ids.indexOf(id)];
    return { request, item: item as Item };
  });
}

const body = (request: SinkRequest) => request.json as Item;
const segmentItems = (request: SinkRequest) => body(request).batch as Item[];
const webhookItems = (request: SinkRequest) => body(request).events as Item[];
const mixpanelItems = (request: SinkRequest) => request.json as Item[];

/** The Idempotency-Key a receiver can recompute: the id of a single event, else a hash of the batch's ids. */
function idempotencyKey(ids: readonly string[]): string {
  if (ids.length === 1) return ids[0] as string;
  const hash = createHash("sha256");
  for (const id of ids) hash.update(id);
  return `batch-${hash.digest("base64url")}`;
}

/** Request line, credentials and freshness of every request that carried these ids. */
function expectRequests(type: VendorFormat, requests: SinkRequest[], sentAtMs: number) {
  for (const request of requests) {
    const where = `${type} request ${request.index}: ${JSON.stringify(request.headers)} ${request.raw.slice(0, 400)}`;
    expect(request.method, where).toBe("POST");
    expect(request.headers["content-type"], where).toBe("application/json");
    if (type === "segment") {
      expect([request.path, request.query], where).toEqual(["/tenant-a/v1/batch", {}]);
      expect(request.headers.authorization, where).toBe(basicAuth(secrets.segment));
      expect(Object.keys(body(request)).sort(), where).toEqual(["batch", "sentAt"]);
      const sentAt = Date.parse(body(request).sentAt as string);
      expect(sentAt, where).toBeGreaterThanOrEqual(sentAtMs);
      expect(sentAt, where).toBeLessThanOrEqual(request.at);
    } else if (type === "posthog") {
      expect([request.path, request.query], where).toEqual(["/tenant-a/batch/", {}]);
      expect(request.headers.authorization, where).toBeUndefined();
      expect(Object.keys(body(request)).sort(), where).toEqual(["api_key", "batch"]);
      expect(body(request).api_key, where).toBe(secrets.posthog);
    } else if (type === "mixpanel") {
      expect([request.path, request.query], where).toEqual(["/tenant-a/import", { strict: "1" }]);
      expect(request.headers.authorization, where).toBe(basicAuth(secrets.mixpanel));
      expect(Array.isArray(request.json), where).toBe(true);
    } else {
      expect([request.path, request.query], where).toEqual(["/hooks/in", { tenant: "a" }]);
      expect(Object.keys(body(request)), where).toEqual(["events"]);
      const timestamp = request.headers["x-evpipe-timestamp"] as string;
      expect(timestamp, where).toMatch(/^\d+$/);
      expect(Number(timestamp), where).toBeGreaterThanOrEqual(Math.floor(sentAtMs / 1000));
      expect(Number(timestamp), where).toBeLessThanOrEqual(Math.ceil(request.at / 1000));
      const hmac = createHmac("sha256", secrets.webhook).update(`${timestamp}.${request.raw}`).digest("hex");
      expect(request.headers["x-evpipe-signature"], where).toBe(`sha256=${hmac}`);
      expect(request.headers["idempotency-key"], where).toBe(idempotencyKey(request.ids));
    }
  }
}

async function allDelivered(ids: readonly string[]) {
  await Promise.all(Object.values(sinks).map((sink) => sink.waitForDelivered(ids, 20_000)));
}

const unique = <T>(items: T[]) => [...new Set(items)];

describe("destinations: each vendor's request format", () => {
  it("delivers events of /v1/events/batch in each vendor's format, with the event id as the idempotency key", async () => {
    const sentAtMs = Date.now();
    const requestId = uniqueId("fmt-own-");
    const clientTs = new Date(sentAtMs - 60_000).toISOString();
    const sent = [
      { event: "signup", user_id: "fmt-u1", client_ts: clientTs, metadata: { plan: "pro", seats: [1, 2] } },
      { event: "purchase", user_id: "fmt-u2" },
    ];
    const res = await postJson<BatchAccepted>(
      services.gateway.url,
      "/v1/events/batch",
      { events: sent },
      { "x-api-key": services.key, "x-request-id": requestId },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const ids = res.body.ids;
    const receivedAt = res.body.received_at;
    const [signup, purchase] = sent as [(typeof sent)[0], (typeof sent)[1]];
    await allDelivered(ids);

    const segment = delivered(sinks.segment, ids, segmentItems);
    expectRequests("segment", unique(segment.map((d) => d.request)), sentAtMs);
    expect(segment.map((d) => d.item)).toEqual([
      {
        type: "track",
        event: "signup",
        userId: "fmt-u1",
        properties: signup.metadata,
        context: { library: { name: "evpipe" } },
        messageId: ids[0],
        timestamp: clientTs,
      },
      {
        type: "track",
        event: "purchase",
        userId: "fmt-u2",
        properties: {},
        context: { library: { name: "evpipe" } },
        messageId: ids[1],
        timestamp: receivedAt,
      },
    ]);

    const posthog = delivered(sinks.posthog, ids, segmentItems);
    expectRequests("posthog", unique(posthog.map((d) => d.request)), sentAtMs);
    expect(posthog.map((d) => d.item)).toEqual([
      {
        event: "signup",
        distinct_id: "fmt-u1",
        properties: { ...signup.metadata, distinct_id: "fmt-u1" },
        timestamp: clientTs,
        uuid: ids[0],
      },
      {
        event: "purchase",
        distinct_id: "fmt-u2",
        properties: { distinct_id: "fmt-u2" },
        timestamp: receivedAt,
        uuid: ids[1],
      },
    ]);

    const mixpanel = delivered(sinks.mixpanel, ids, mixpanelItems);
    expectRequests("mixpanel", unique(mixpanel.map((d) => d.request)), sentAtMs);
    expect(mixpanel.map((d) => d.item)).toEqual([
      {
        event: "signup",
        properties: { ...signup.metadata, time: Date.parse(clientTs), distinct_id: "fmt-u1", $insert_id: ids[0] },
      },
      {
        event: "purchase",
        properties: { time: Date.parse(receivedAt), distinct_id: "fmt-u2", $insert_id: ids[1] },
      },
    ]);

    const webhook = delivered(sinks.webhook, ids, webhookItems);
    expectRequests("webhook", unique(webhook.map((d) => d.request)), sentAtMs);
    const provenance = { received_at: receivedAt, request_id: requestId, key_id: services.keyId };
    expect(webhook.map((d) => d.item)).toEqual([
      { id: ids[0], ...signup, ...provenance },
      { id: ids[1], ...purchase, ...provenance },
    ]);
  });

  it("delivers messages of the Segment-compatible /v1/batch, the Segment destination getting each message back", async () => {
    const sentAtMs = Date.now();
    const requestId = uniqueId("fmt-seg-");
    const timestamp = new Date(sentAtMs - 120_000).toISOString();
    const batchContext = { library: { name: "batch-library", version: "1.0.0" } };
    const track = {
      type: "track",
      event: "Order Completed",
      userId: "fmt-s1",
      anonymousId: "anon-fmt-1",
      properties: { revenue: 42.5, currency: "EUR" },
      context: { library: { name: "analytics-node" }, ip: "203.0.113.9" },
      integrations: { All: true },
      messageId: randomUUID(),
      timestamp,
    };
    const identify = {
      type: "identify",
      userId: "fmt-s2",
      traits: { email: "s2@example.com", plan: "team" },
      messageId: uniqueId("fmt-identify-"),
      timestamp,
    };
    const sentAt = new Date(sentAtMs).toISOString();
    const res = await postSegment(
      services.gateway.url,
      "/v1/batch",
      { batch: [track, identify], sentAt, context: batchContext },
      { headers: { authorization: basicAuth(services.key), "x-request-id": requestId } },
    );
    expect(res.status, res.text).toBe(200);
    const ids = [eventIdOf(track.messageId, services.keyId), eventIdOf(identify.messageId, services.keyId)];
    const rows = await storedOnce(services.pipeline, ids);
    await allDelivered(ids);

    const segment = delivered(sinks.segment, ids, segmentItems);
    expectRequests("segment", unique(segment.map((d) => d.request)), sentAtMs);
    expect(segment.map((d) => d.item)).toEqual([
      { ...track, messageId: ids[0], timestamp },
      { context: batchContext, ...identify, messageId: ids[1], timestamp },
    ]);

    const posthog = delivered(sinks.posthog, ids, segmentItems);
    expectRequests("posthog", unique(posthog.map((d) => d.request)), sentAtMs);
    expect(posthog.map((d) => d.item)).toEqual([
      {
        event: "Order Completed",
        distinct_id: "fmt-s1",
        properties: { ...track.properties, distinct_id: "fmt-s1" },
        timestamp,
        uuid: ids[0],
      },
      {
        event: "identify",
        distinct_id: "fmt-s2",
        properties: { ...identify.traits, distinct_id: "fmt-s2" },
        timestamp,
        uuid: ids[1],
      },
    ]);

    const mixpanel = delivered(sinks.mixpanel, ids, mixpanelItems);
    expectRequests("mixpanel", unique(mixpanel.map((d) => d.request)), sentAtMs);
    const time = Date.parse(timestamp);
    expect(mixpanel.map((d) => d.item)).toEqual([
      {
        event: "Order Completed",
        properties: { ...track.properties, time, distinct_id: "fmt-s1", $insert_id: ids[0] },
      },
      { event: "identify", properties: { ...identify.traits, time, distinct_id: "fmt-s2", $insert_id: ids[1] } },
    ]);

    const webhook = delivered(sinks.webhook, ids, webhookItems);
    expectRequests("webhook", unique(webhook.map((d) => d.request)), sentAtMs);
    const receivedAt = (id: string) => rows.find((row) => row.id === id)?.received_at.toISOString();
    const provenance = { request_id: requestId, key_id: services.keyId, client_ts: timestamp };
    expect(webhook.map((d) => d.item)).toEqual([
      {
        id: ids[0],
        type: "track",
        event: "Order Completed",
        user_id: "fmt-s1",
        anonymous_id: "anon-fmt-1",
        metadata: { sentAt, ...track },
        received_at: receivedAt(ids[0] as string),
        ...provenance,
      },
      {
        id: ids[1],
        type: "identify",
        event: "identify",
        user_id: "fmt-s2",
        metadata: { sentAt, context: batchContext, ...identify },
        received_at: receivedAt(ids[1] as string),
        ...provenance,
      },
    ]);
  });
});
