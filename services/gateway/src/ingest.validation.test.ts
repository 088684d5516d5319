import { describe, expect, it } from "vitest";
import { describeSecurity } from "./testing/security-suite.ts";
import { createTestGateway } from "./testing/test-deps.ts";

const now = Date.parse("2026-11-23T12:00:00.000Z");
const valid = { event: "signup", user_id: "user-1" };

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let level = 1; level < depth; level++) value = { child: value };
  return value;
}

/** A metadata object whose JSON serialization is exactly `bytes` long. */
function metadataOfSize(bytes: number): Record<string, string> {
  const overhead = JSON.stringify({ pad: "" }).length;
  return { pad: "x".repeat(bytes - overhead) };
}

const textRule = "must be a string of 1 to 128 characters without control characters";
const tsRule = "must be an RFC 3339 date-time with offset";

interface Case {
  name: string;
  path?: string;
  body: unknown;
  /** Send `body` as these exact bytes instead of JSON. */
  raw?: string | Uint8Array;
  contentType?: string | null;
  status: number;
  code: string;
  details?: Record<string, string[]>;
}

const cases: Case[] = [
  { name: "unparseable JSON", body: undefined, raw: '{"event": "a",', status: 400, code: "INVALID_JSON" },
  { name: "an empty body", body: undefined, raw: "", status: 400, code: "INVALID_JSON" },
  {
    name: "invalid UTF-8",
    body: undefined,
    raw: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
    status: 400,
    code: "INVALID_JSON",
  },
  {
    name: "a JSON array at the top",
    body: [valid],
    status: 400,
    code: "VALIDATION_ERROR",
    details: { body: ["must be a JSON object"] },
  },
  {
    name: "a JSON string at the top",
    body: "signup",
    status: 400,
    code: "VALIDATION_ERROR",
    details: { body: ["must be a JSON object"] },
  },
  {
    name: "null at the top",
    body: null,
    status: 400,
    code: "VALIDATION_ERROR",
    details: { body: ["must be a JSON object"] },
  },
  {
    name: "a missing event",
    body: { user_id: "u" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { event: ["is required"] },
  },
  {
    name: "a missing user_id",
    body: { event: "e" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { user_id: ["is required"] },
  },
  {
    name: "an empty event",
    body: { ...valid, event: "" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { event: [textRule] },
  },
  {
    name: "a 129-character event",
    body: { ...valid, event: "e".repeat(129) },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { event: [textRule] },
  },
  {
    name: "a number for event",
    body: { ...valid, event: 42 },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { event: [textRule] },
  },
  {
    name: "a C0 control character in event",
    body: { ...valid, event: "sign\u0007up" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { event: [textRule] },
  },
  {
    name: "a newline in user_id",
    body: { ...valid, user_id: "a\nb" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { user_id: [textRule] },
  },
  {
    name: "a C1 control character in user_id",
    body: { ...valid, user_id: "a\u0085b" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { user_id: [textRule] },
  },
  {
    name: "a NUL in user_id",
    body: { ...valid, user_id: "a\u0000b" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { user_id: [textRule] },
  },
  {
    name: "a lone surrogate in event",
    body: undefined,
    raw: '{"event":"a\\ud800","user_id":"u"}',
    status: 400,
    code: "VALIDATION_ERROR",
    details: { event: [textRule] },
  },
  {
    name: "an id that is not a UUID",
    body: { ...valid, id: "42" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { id: ["must be a UUID"] },
  },
  {
    name: "client_ts without an offset",
    body: { ...valid, client_ts: "2026-11-20T10:00:00" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { client_ts: [tsRule] },
  },
  {
    name: "client_ts that is a date only",
    body: { ...valid, client_ts: "2026-11-20" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { client_ts: [tsRule] },
  },
  {
    name: "client_ts on a day that does not exist",
    body: { ...valid, client_ts: "2026-02-30T10:00:00Z" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { client_ts: [tsRule] },
  },
  {
    name: "client_ts with hour 24",
    body: { ...valid, client_ts: "2026-11-20T24:00:00Z" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { client_ts: [tsRule] },
  },
  {
    name: "client_ts as a number",
    body: { ...valid, client_ts: 1763892000 },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { client_ts: [tsRule] },
  },
  {
    name: "client_ts 1 h + 1 s in the future",
    body: { ...valid, client_ts: "2026-11-23T13:00:01Z" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { client_ts: ["must be at most 3600 seconds in the future"] },
  },
  {
    name: "client_ts 1 h + 1 s ahead written with an offset",
    body: { ...valid, client_ts: "2026-11-23T15:00:01+02:00" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { client_ts: ["must be at most 3600 seconds in the future"] },
  },
  {
    name: "metadata that is an array",
    body: { ...valid, metadata: [1, 2] },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { metadata: ["must be a JSON object"] },
  },
  {
    name: "metadata that is a string",
    body: { ...valid, metadata: "{}" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { metadata: ["must be a JSON object"] },
  },
  {
    name: "metadata 11 levels deep",
    body: { ...valid, metadata: nested(11) },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { metadata: ["must be at most 10 levels deep"] },
  },
  {
    name: "metadata of 16 KiB + 1 byte",
    body: { ...valid, metadata: metadataOfSize(16 * 1024 + 1) },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { metadata: ["must be at most 16384 bytes serialized"] },
  },
  {
    name: "a NUL in a metadata string",
    body: { ...valid, metadata: { a: ["x", { b: "y\u0000" }] } },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { metadata: ["must not contain NUL characters"] },
  },
  {
    name: "a NUL in a metadata key",
    body: { ...valid, metadata: { "a\u0000": 1 } },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { metadata: ["must not contain NUL characters"] },
  },
  {
    name: "an unknown top-level field",
    body: { ...valid, timestamp: "now" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { timestamp: ["is not a known field"] },
  },
  {
    name: "several broken rules at once",
    body: { event: "", user_id: 7, extra: 1 },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { event: [textRule], user_id: [textRule], extra: ["is not a known field"] },
  },
  {
    name: "a batch without events",
    path: "/v1/events/batch",
    body: {},
    status: 400,
    code: "VALIDATION_ERROR",
    details: { events: ["is required"] },
  },
  {
    name: "a batch of zero events",
    path: "/v1/events/batch",
    body: { events: [] },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { events: ["must hold 1 to 1000 events"] },
  },
  {
    name: "a batch of 1001 events",
    path: "/v1/events/batch",
    body: { events: Array.from({ length: 1001 }, () => valid) },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { events: ["must hold 1 to 1000 events"] },
  },
  {
    name: "a batch whose events is an object",
    path: "/v1/events/batch",
    body: { events: valid },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { events: ["must be an array of events"] },
  },
  {
    name: "a batch whose only bad event is the last",
    path: "/v1/events/batch",
    body: { events: [valid, valid, valid, { event: "e" }] },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { "events.3.user_id": ["is required"] },
  },
  {
    name: "a batch naming each bad field by path",
    path: "/v1/events/batch",
    body: { events: [{ ...valid, id: "x" }, valid, { event: "", user_id: "u" }] },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { "events.0.id": ["must be a UUID"], "events.2.event": [textRule] },
  },
  {
    name: "a batch with an unknown field",
    path: "/v1/events/batch",
    body: { events: [valid], dry_run: true },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { dry_run: ["is not a known field"] },
  },
  {
    name: "a single event sent as a batch item array",
    path: "/v1/events/batch",
    body: { events: [[valid]] },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { "events.0": ["must be a JSON object"] },
  },
  {
    name: "a duplicate top-level key",
    body: undefined,
    raw: '{"event":"a","user_id":"u","event":"b"}',
    status: 400,
    code: "INVALID_JSON",
  },
  {
    name: "a duplicate key inside metadata",
    body: undefined,
    raw: '{"event":"a","user_id":"u","metadata":{"k":1,"k":2}}',
    status: 400,
    code: "INVALID_JSON",
  },
  {
    name: "a duplicate key written with an escape",
    body: undefined,
    raw: '{"event":"a","user_id":"u","us\\u0065r_id":"v"}',
    status: 400,
    code: "INVALID_JSON",
  },
  {
    name: "a __proto__ key at the top",
    body: undefined,
    raw: '{"event":"a","user_id":"u","__proto__":{"polluted":true}}',
    status: 400,
    code: "VALIDATION_ERROR",
    details: Object.fromEntries([["__proto__", ["is not a known field"]]]),
  },
  {
    name: "a constructor key at the top",
    body: undefined,
    raw: '{"event":"a","user_id":"u","constructor":{"prototype":{"polluted":true}}}',
    status: 400,
    code: "VALIDATION_ERROR",
    details: { constructor: ["is not a known field"] },
  },
  {
    name: "client_ts in year 0000",
    body: { ...valid, client_ts: "0000-01-01T00:00:00Z" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { client_ts: [tsRule] },
  },
  {
    name: "client_ts in month 13",
    body: { ...valid, client_ts: "2026-13-01T00:00:00Z" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { client_ts: [tsRule] },
  },
  {
    name: "client_ts with a 5-digit year",
    body: { ...valid, client_ts: "10000-01-01T00:00:00Z" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { client_ts: [tsRule] },
  },
  {
    name: "metadata nested 20,000 levels",
    body: undefined,
    raw: `{"event":"a","user_id":"u","metadata":${'{"a":'.repeat(20_000)}1${"}".repeat(20_000)}}`,
    status: 400,
    code: "VALIDATION_ERROR",
    details: { metadata: ["must be at most 10 levels deep"] },
  },
  {
    name: "an unknown field nested 20,000 levels",
    body: undefined,
    raw: `{"event":"a","user_id":"u","x":${"[".repeat(20_000)}${"]".repeat(20_000)}}`,
    status: 400,
    code: "VALIDATION_ERROR",
    details: { x: ["is not a known field"] },
  },
  {
    name: "an event nested 20,000 levels",
    body: undefined,
    raw: `{"event":${"[".repeat(20_000)}${"]".repeat(20_000)},"user_id":"u"}`,
    status: 400,
    code: "VALIDATION_ERROR",
    details: { event: [textRule] },
  },
  {
    name: "a number for user_id",
    body: { ...valid, user_id: 5 },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { user_id: [textRule] },
  },
  {
    name: "a number for id",
    body: { ...valid, id: 123 },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { id: ["must be a UUID"] },
  },
  {
    name: "a boolean for metadata",
    body: { ...valid, metadata: true },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { metadata: ["must be a JSON object"] },
  },
  {
    name: "a string for a batch's events",
    path: "/v1/events/batch",
    body: { events: "[]" },
    status: 400,
    code: "VALIDATION_ERROR",
    details: { events: ["must be an array of events"] },
  },
  { name: "a body of whitespace", body: undefined, raw: "  \n ", status: 400, code: "INVALID_JSON" },
  {
    name: "a UTF-8 byte-order mark before the JSON",
    body: undefined,
    raw: new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
    status: 400,
    code: "VALIDATION_ERROR",
    details: { event: ["is required"], user_id: ["is required"] },
  },
  { name: "text/plain", body: valid, contentType: "text/plain", status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
  { name: "no content type", body: valid, contentType: null, status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
  {
    name: "a form body",
    body: valid,
    contentType: "application/x-www-form-urlencoded",
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
  },
  {
    name: "JSON in another charset",
    body: valid,
    contentType: "application/json; charset=latin1",
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
  },
  {
    name: "a JSON-like vendor type",
    body: valid,
    contentType: "application/vnd.api+json",
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
  },
];

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
      limits: {
        maxTextChars: 128,
        maxMetadataBytes: 2 * oneMiB,
        maxMetadataDepth: 10,
        maxFutureSkewMs: 3_600_000,
        maxBatchEvents: 1000,
        maxBodyBytes: oneMiB,
      },
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
