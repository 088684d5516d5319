import { describe, expect, it } from "vitest";
import { createGatewayMetrics } from "./metrics.ts";
import { PublishError, type Published } from "./publisher.ts";
import { errorEnvelope } from "./testing/error-envelope.ts";
import { parseExposition } from "./testing/exposition.ts";
import { createTestGateway } from "./testing/test-deps.ts";

function setup() {
  const metrics = createGatewayMetrics();
  const gateway = createTestGateway({ metrics });
  const ingestKey = gateway.issueKey(["ingest"]).key;
  const readKey = gateway.issueKey(["read"]).key;
  const post = (path: string, body: unknown, key = ingestKey) =>
    gateway.app.request(path, {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const scrape = async () => {
    const res = await gateway.app.request("/metrics");
    const text = await res.text();
    expect(res.status, text).toBe(200);
    return { res, text, samples: parseExposition(text) };
  };
  /** The value of the one sample with exactly these labels; undefined when there is none. */
  const value = async (name: string, labels: Record<string, string> = {}) => {
    const { samples, text } = await scrape();
    const found = samples.filter((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels));
    expect(found.length, text).toBeLessThanOrEqual(1);
    return found[0]?.value;
  };
  return { gateway, post, scrape, value, readKey };
}

describe("gateway metrics", () => {
  it("counts Segment messages left out of accepted requests, and the events accepted beside them", async () => {
    const { post, value } = setup();
    const batch = [{ type: "track", event: "ok", userId: "u" }, { type: "track", userId: "u" }, "x"];
    const res = await post("/v1/batch", { batch });
    expect(await res.json()).toMatchObject({ accepted: 1 });
    expect(await value("evpipe_segment_messages_rejected_total")).toBe(2);
    expect(await value("evpipe_events_accepted_total")).toBe(1);
    expect(await value("evpipe_http_requests_total", { route: "/v1/batch", method: "POST", status: "200" })).toBe(1);
  });

  it("labels a request by its route pattern, never the raw path, and an unknown path as unmatched", async () => {
    const { gateway, value, scrape, readKey } = setup();
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    for (const id of ids) {
      const res = await gateway.app.request(`/v1/events/${id}`, { headers: { "x-api-key": readKey } });
      expect(res.status, await res.text()).toBe(404);
    }
    expect((await gateway.app.request("/no/such/path")).status).toBe(404);
    expect((await gateway.app.request(`/v1/events/${crypto.randomUUID()}`, { method: "DELETE" })).status).toBe(405);
    expect(await value("evpipe_http_requests_total", { route: "/v1/events/:id", method: "GET", status: "404" })).toBe(
      3,
    );
    expect(await value("evpipe_http_requests_total", { route: "unmatched", method: "GET", status: "404" })).toBe(1);
    expect(await value("evpipe_http_requests_total", { route: "unmatched", method: "DELETE", status: "405" })).toBe(1);
    expect(await value("evpipe_http_request_duration_seconds_count", { route: "/v1/events/:id", method: "GET" })).toBe(
      3,
    );
    const { text } = await scrape();
    for (const id of ids) expect(text).not.toContain(id);
  });

  it("counts the requests a guard refused under the route they were meant for", async () => {
    const { post, value } = setup();
    expect((await post("/v1/events/batch", { events: [] }, "evp_wrong")).status).toBe(401);
    expect(
      await value("evpipe_http_requests_total", { route: "/v1/events/batch", method: "POST", status: "401" }),
    ).toBe(1);
  });

  it("counts accepted events and times each publish; a failed publish is a failure, never accepted", async () => {
    const { gateway, post, value } = setup();
    expect((await post("/v1/events", { event: "e", user_id: "u" })).status).toBe(202);
    const batch = { events: [1, 2, 3].map((n) => ({ event: "e", user_id: `u${n}` })) };
    expect((await post("/v1/events/batch", batch)).status).toBe(202);
    gateway.failPublishesWith(new PublishError("no PubAck within 3000 ms"));
    const refused = await post("/v1/events/batch", batch);
    expect(refused.status, await refused.text()).toBe(503);
    expect(await value("evpipe_events_accepted_total")).toBe(4);
    expect(await value("evpipe_publish_failures_total")).toBe(1);
    expect(await value("evpipe_publish_duration_seconds_count")).toBe(3);
    expect(await value("evpipe_publishes_in_flight")).toBe(0);
    expect(
      await value("evpipe_http_requests_total", { route: "/v1/events/batch", method: "POST", status: "503" }),
    ).toBe(1);
  });

  it("shows a publish in flight while it awaits its PubAck", async () => {
    const metrics = createGatewayMetrics();
    const acked = Promise.withResolvers<Published>();
    const gateway = createTestGateway({ metrics, publisher: { publish: () => acked.promise } });
    const { key } = gateway.issueKey(["ingest"]);
    const answer = gateway.app.request("/v1/events", {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: JSON.stringify({ event: "e", user_id: "u" }),
    });
    await expect.poll(() => metrics.publishesInFlight.get().then((g) => g.values[0]?.value)).toBe(1);
    acked.resolve({ newEvents: 1 });
    expect((await answer).status).toBe(202);
    expect((await metrics.publishesInFlight.get()).values[0]?.value).toBe(0);
  });

  it("serves /metrics without a key in the Prometheus text format, process metrics included", async () => {
    const { scrape } = setup();
    const { res, text } = await scrape();
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    for (const name of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_heap_size_used_bytes",
      "evpipe_http_requests_total",
      "evpipe_http_request_duration_seconds",
      "evpipe_events_accepted_total",
      "evpipe_publish_duration_seconds",
      "evpipe_publishes_in_flight",
      "evpipe_publish_failures_total",
    ]) {
      expect(text, name).toContain(`# TYPE ${name} `);
    }
  });

  it("measures nothing and serves no /metrics when metrics are off", async () => {
    const gateway = createTestGateway();
    const res = await gateway.app.request("/metrics");
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(404);
    expect(body).toEqual(errorEnvelope(res.headers, "NOT_FOUND", "No route for GET /metrics."));
  });
});
