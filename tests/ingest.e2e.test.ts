import http from "node:http";
import { eventById } from "@evpipe/db";
import { errorEnvelope } from "@evpipe/gateway/testing";
import { messageHeaders } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { type BatchAccepted, events, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices();

async function storedEvent(id: string) {
  const row = await eventById(services.pipeline.db, id);
  if (!row) throw new Error(`event ${id} is not stored`);
  return row;
}

const waitStored = (ids: string[]) =>
  waitFor(`${ids.length} events stored`, async () => (await services.pipeline.storedCount(ids)) === ids.length);

describe("ingest end to end", () => {
  it("stores a single event with its fields, request id, key id and occurred_at from client_ts", async () => {
    const res = await postJson<{ id: string; received_at: string }>(
      services.gateway.url,
      "/v1/events",
      {
        event: "signup",
        user_id: "alice",
        client_ts: "2026-11-20T10:00:00.123456+02:00",
        metadata: { plan: "pro", n: [1, 2] },
      },
      { "x-api-key": services.key, "x-request-id": "e2e-single-1" },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await waitStored([res.body.id]);
    const row = await storedEvent(res.body.id);
    expect(row).toMatchObject({
      id: res.body.id,
      event: "signup",
      user_id: "alice",
      metadata: { plan: "pro", n: [1, 2] },
      request_id: "e2e-single-1",
      key_id: services.keyId,
    });
    expect(row.occurred_at.toISOString()).toBe("2026-11-20T08:00:00.123Z");
    expect(row.received_at.toISOString()).toBe(res.body.received_at);
    expect(row.stored_at.getTime()).toBeGreaterThanOrEqual(row.received_at.getTime());
  });

  it("uses received_at as occurred_at when client_ts is absent", async () => {
    const res = await postJson<{ id: string; received_at: string }>(
      services.gateway.url,
      "/v1/events",
      { event: "e", user_id: "bob" },
      { "x-api-key": services.key },
    );
    expect(res.status).toBe(202);
    await waitStored([res.body.id]);
    const row = await storedEvent(res.body.id);
    expect(row.occurred_at.toISOString()).toBe(res.body.received_at);
    expect(row.metadata).toBeNull();
  });

  it("stores every event of a batch under the ids it answered, with the request's request id", async () => {
    const res = await postJson<BatchAccepted>(
      services.gateway.url,
      "/v1/events/batch",
      { events: events(250) },
      { "x-api-key": services.key },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.accepted).toBe(250);
    await waitStored(res.body.ids);
    const requestIds = await services.pipeline.db
      .selectFrom("events")
      .select("request_id")
      .distinct()
      .where("id", "in", res.body.ids)
      .execute();
    expect(requestIds).toEqual([{ request_id: res.headers.get("x-request-id") }]);
    // The consumer sizes its writes by this header rather than by parsing.
    const { names, jsm } = services.pipeline;
    const published = await jsm.streams.getMessage(names.eventsStream, { last_by_subj: names.eventsSubject });
    expect(published.header.get(messageHeaders.eventCount)).toBe("250");
  });

  it("stores one row per id when the same batch is sent twice, and JetStream keeps one message", async () => {
    const first = await postJson<BatchAccepted>(
      services.gateway.url,
      "/v1/events/batch",
      { events: events(20) },
      { "x-api-key": services.key },
    );
    expect(first.status).toBe(202);
    const withIds = { events: events(20).map((event, i) => ({ ...event, id: first.body.ids[i] })) };
    const before = await services.pipeline.publishedCount();
    const again = await postJson<BatchAccepted>(services.gateway.url, "/v1/events/batch", withIds, {
      "x-api-key": services.key,
    });
    const thrice = await postJson<BatchAccepted>(services.gateway.url, "/v1/events/batch", withIds, {
      "x-api-key": services.key,
    });
    expect([again.status, thrice.status]).toEqual([202, 202]);
    expect(again.body.ids).toEqual(first.body.ids);
    await waitStored(first.body.ids);
    // The first request's message id was derived from the same ids, so both retries inside the duplicate
    // window are dropped by JetStream itself...
    expect(await services.pipeline.publishedCount()).toBe(before);
    // ...and whatever does get through is absorbed by the primary key.
    const rows = await services.pipeline.db
      .selectFrom("events")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("id", "in", first.body.ids)
      .executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(20);
  });

  it("publishes and stores nothing for a rejected batch, even its valid events", async () => {
    const ids = ["0192e4c2-7f1a-7000-8000-00000000e2e1", "0192e4c2-7f1a-7000-8000-00000000e2e2"];
    const before = await services.pipeline.publishedCount();
    const res = await postJson(
      services.gateway.url,
      "/v1/events/batch",
      {
        events: [
          { id: ids[0], event: "ok", user_id: "u" },
          { id: ids[1], event: "bad" },
        ],
      },
      { "x-api-key": services.key },
    );
    expect(res.status).toBe(400);
    expect(res.body).toEqual(
      errorEnvelope(res.headers, "VALIDATION_ERROR", "1 field(s) break the event rules.", {
        "events.1.user_id": ["is required"],
      }),
    );
    // A later accepted request is stored only after everything published before it, so once it is
    // stored the rejected ids would have been too.
    const later = await postJson<{ id: string }>(
      services.gateway.url,
      "/v1/events",
      { event: "after", user_id: "u" },
      { "x-api-key": services.key },
    );
    await waitStored([later.body.id]);
    expect(await services.pipeline.publishedCount()).toBe(before + 1);
    expect(await services.pipeline.storedCount(ids)).toBe(0);
  });

  it("answers 401 with WWW-Authenticate over real HTTP and publishes nothing", async () => {
    const before = await services.pipeline.publishedCount();
    const res = await postJson(
      services.gateway.url,
      "/v1/events",
      { event: "e", user_id: "u" },
      { "x-api-key": `${services.key}x` },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="evpipe"');
    expect((res.body as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    expect(await services.pipeline.publishedCount()).toBe(before);
  });

  it("answers 413 to a chunked body over 1 MiB sent without Content-Length", async () => {
    const before = await services.pipeline.publishedCount();
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${services.gateway.url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": services.key, "transfer-encoding": "chunked" },
      });
      req.on("response", (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on("error", reject);
      req.write('{"event":"e","user_id":"u","metadata":{"p":"');
      const chunk = "x".repeat(64 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent <= 1024 * 1024) {
          sent += chunk.length;
          if (!req.write(chunk)) return req.once("drain", pump);
        }
        req.end('"}}');
      };
      pump();
    });
    expect(status, body).toBe(413);
    expect(JSON.parse(body).error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await services.pipeline.publishedCount()).toBe(before);
  });

  it("accepts and stores a 1 MiB batch of 1000 events whose envelope outgrows NATS's 1 MB max_payload", async () => {
    const padding = "m".repeat(960);
    const batch = {
      events: Array.from({ length: 1000 }, (_, i) => ({ event: "big", user_id: `u${i}`, metadata: { p: padding } })),
    };
    const size = Buffer.byteLength(JSON.stringify(batch));
    expect(size).toBeGreaterThan(1_000_000);
    expect(size).toBeLessThanOrEqual(1024 * 1024);
    const res = await postJson<BatchAccepted>(services.gateway.url, "/v1/events/batch", batch, {
      "x-api-key": services.key,
    });
    expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(202);
    await waitStored(res.body.ids);
  });

  it("logs the request id in both services", async () => {
    const { gateway, consumer } = services;
    const res = await postJson<{ id: string }>(
      gateway.url,
      "/v1/events",
      { event: "traced", user_id: "u" },
      { "x-api-key": services.key, "x-request-id": "trace-me-42" },
    );
    await waitStored([res.body.id]);
    await gateway.waitForLog("the request line", (line) => line.requestId === "trace-me-42" && line.status === 202);
    await consumer.waitForLog(
      "the stored line",
      (line) => line.requestId === "trace-me-42" && line.msg === "message stored",
    );
  });

  it("never writes an API key into either service's log", async () => {
    const { gateway, consumer } = services;
    const secret = services.key.slice(17);
    // The key travels in both headers, and a wrong key in a refused request, all logged by request id.
    const accepted = await postJson<{ id: string }>(
      gateway.url,
      "/v1/events",
      { event: "secret-probe", user_id: "u" },
      { authorization: `Bearer ${services.key}`, "x-api-key": services.key, "x-request-id": "key-probe-1" },
    );
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const refused = await postJson(
      gateway.url,
      "/v1/events",
      { event: "secret-probe", user_id: "u" },
      { "x-api-key": `${services.key}x`, "x-request-id": "key-probe-2" },
    );
    expect(refused.status).toBe(401);
    await waitStored([accepted.body.id]);
    await gateway.waitForLog("the accepted request", (line) => line.requestId === "key-probe-1" && line.status === 202);
    await gateway.waitForLog("the refused request", (line) => line.requestId === "key-probe-2" && line.status === 401);
    await consumer.waitForLog("the stored message", (line) => line.requestId === "key-probe-1");
    for (const service of [gateway, consumer]) expect(JSON.stringify(service.lines)).not.toContain(secret);
  });

  it("stops the gateway gracefully on SIGTERM: exit 0 after draining", async () => {
    const res = await postJson(
      services.gateway.url,
      "/v1/events",
      { event: "last", user_id: "u" },
      { "x-api-key": services.key },
    );
    expect(res.status).toBe(202);
    expect(await services.gateway.stop()).toBe(0);
    expect(services.gateway.lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining(["shutting down", "shutdown complete"]),
    );
  });
});
