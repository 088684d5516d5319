import { defaultEventLimits } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { bodyValidationCases } from "./testing/body-validation-cases.ts";
import { eventValidationCases } from "./testing/event-validation-cases.ts";
import { describeSecurity } from "./testing/security-suite.ts";
import { createTestGateway } from "./testing/test-deps.ts";
import { metadataOfSize, nested, now, valid } from "./testing/validation-fixtures.ts";

const cases = [...eventValidationCases, ...bodyValidationCases];

describe("ingest validation", () => {
  for (const testCase of cases) {
    it(`answers ${testCase.status} ${testCase.code} to ${testCase.name}, publishing nothing`, async () => {
      const gateway = createTestGateway({ now: () => now });
      const { key } = gateway.issueKey(["ingest"]);
      const headers: Record<string, string> = { "x-api-key": key };
      if (testCase.contentType !== null) headers["content-type"] = testCase.contentType ?? "application/json";
      const res = await gateway.app.request(testCase.path ?? "/v1/events", {
        method: "POST",
        headers,
        body: testCase.raw ?? JSON.stringify(testCase.body),
      });
      const body = (await res.json()) as { error: Record<string, unknown> };
      expect(res.status, JSON.stringify(body)).toBe(testCase.status);
      expect(body.error.code).toBe(testCase.code);
      expect(body.error.request_id).toBe(res.headers.get("x-request-id"));
      expect(typeof body.error.message).toBe("string");
      expect(body.error.details).toEqual(testCase.details);
      expect(Object.keys(body)).toEqual(["error"]);
      expect(gateway.published).toEqual([]);
    });
  }

  const accepted: Array<{ name: string; body: unknown; contentType?: string }> = [
    { name: "a 128-character event and user_id", body: { event: "e".repeat(128), user_id: "u".repeat(128) } },
    { name: "128 characters of astral-plane emoji", body: { event: "😀".repeat(128), user_id: "u" } },
    { name: "client_ts exactly 1 h ahead", body: { ...valid, client_ts: "2026-11-23T13:00:00Z" } },
    {
      name: "client_ts in the past with an offset and nanoseconds",
      body: { ...valid, client_ts: "2020-01-01T00:00:00.123456789-05:30" },
    },
    { name: "metadata exactly 10 levels deep", body: { ...valid, metadata: nested(10) } },
    { name: "metadata of exactly 16 KiB", body: { ...valid, metadata: metadataOfSize(16 * 1024) } },
    {
      name: "metadata with arrays, numbers, booleans and null",
      body: { ...valid, metadata: { a: [1, 2.5, true, null], b: { c: "d" } } },
    },
    { name: "an upper-case UUID id", body: { ...valid, id: "0192E4C2-7F1A-7000-8000-00000000ABCD" } },
    { name: "application/json with charset=utf-8", body: valid, contentType: "application/json; charset=utf-8" },
    { name: "a content type in other case", body: valid, contentType: "Application/JSON;Charset=UTF-8" },
  ];
  for (const testCase of accepted) {
    it(`accepts ${testCase.name}`, async () => {
      const gateway = createTestGateway({ now: () => now });
      const { key } = gateway.issueKey(["ingest"]);
      const res = await gateway.app.request("/v1/events", {
        method: "POST",
        headers: { "x-api-key": key, "content-type": testCase.contentType ?? "application/json" },
        body: JSON.stringify(testCase.body),
      });
      expect(res.status, await res.clone().text()).toBe(202);
      expect(gateway.published).toHaveLength(1);
    });
  }
});

describe("prototype pollution", () => {
  it("stores a __proto__ key inside metadata as plain data and pollutes nothing", async () => {
    const gateway = createTestGateway({ now: () => now });
    const { key } = gateway.issueKey(["ingest"]);
    const res = await gateway.app.request("/v1/events", {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: '{"event":"a","user_id":"u","metadata":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}}',
    });
    expect(res.status, await res.clone().text()).toBe(202);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const metadata = gateway.published[0]?.events[0]?.metadata as Record<string, unknown>;
    expect(Object.keys(metadata)).toEqual(["__proto__", "constructor"]);
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
  });
});

describe("ingest body size", () => {
  const oneMiB = 1024 * 1024;
  const bodyOfSize = (bytes: number) => {
    const prefix = '{"event":"e","user_id":"u","metadata":{"p":"';
    const suffix = '"}}';
    return prefix + "x".repeat(bytes - prefix.length - suffix.length) + suffix;
  };

  async function post(
    gateway: ReturnType<typeof createTestGateway>,
    key: string,
    body: string | ReadableStream<Uint8Array>,
    headers: Record<string, string> = {},
  ) {
    return gateway.app.request("/v1/events", {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json", ...headers },
      body,
      ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
    } as RequestInit);
  }

  it("answers 413 to a body over 1 MiB that declares its Content-Length", async () => {
    const gateway = createTestGateway();
    const { key } = gateway.issueKey(["ingest"]);
    const body = bodyOfSize(oneMiB + 1);
    const res = await post(gateway, key, body, { "content-length": String(body.length) });
    const json = (await res.json()) as { error: { code: string } };
    expect(res.status, JSON.stringify(json)).toBe(413);
    expect(json.error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(gateway.published).toEqual([]);
  });

  it("answers 413 to a streamed body over 1 MiB without Content-Length", async () => {
    const gateway = createTestGateway();
    const { key } = gateway.issueKey(["ingest"]);
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('{"event":"e","user_id":"u","metadata":{"p":"'));
        if (sent > oneMiB + chunk.length) controller.close();
        else controller.enqueue(chunk);
        sent += chunk.length;
      },
    });
    const res = await post(gateway, key, stream);
    const json = (await res.json()) as { error: { code: string } };
    expect(res.status, JSON.stringify(json)).toBe(413);
    expect(json.error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(gateway.published).toEqual([]);
  });

  it("accepts a body of exactly 1 MiB whose metadata is within its own limit once raised", async () => {
    const gateway = createTestGateway({
      limits: { ...defaultEventLimits, maxMetadataBytes: 2 * oneMiB, maxBodyBytes: oneMiB },
    });
    const { key } = gateway.issueKey(["ingest"]);
    const res = await post(gateway, key, bodyOfSize(oneMiB));
    expect(res.status, await res.clone().text()).toBe(202);
  });
});

const validBatch = { events: [valid, { ...valid, event: "login" }] };
describeSecurity({ method: "POST", path: "/v1/events", scope: "ingest", body: valid }, () => createTestGateway());
describeSecurity({ method: "POST", path: "/v1/events/batch", scope: "ingest", body: validBatch }, () =>
  createTestGateway(),
);
