import { createTestGateway } from "@evpipe/gateway/testing";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { beforeAll, describe, expect, it } from "vitest";

type Schema = Record<string, unknown>;
interface Operation {
  security?: Array<Record<string, string[]>>;
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

// The codes of PRODUCT.md §3 by status, written out here rather than imported, so the document is checked
// against the contract and not against itself.
const codesByStatus: Record<string, string[]> = {
  "400": ["INVALID_JSON", "VALIDATION_ERROR"],
  "401": ["UNAUTHORIZED"],
  "403": ["FORBIDDEN"],
  "404": ["NOT_FOUND"],
  "405": ["METHOD_NOT_ALLOWED"],
  "413": ["PAYLOAD_TOO_LARGE"],
  "415": ["UNSUPPORTED_MEDIA_TYPE"],
  "429": ["RATE_LIMITED"],
  "500": ["INTERNAL"],
  "503": ["UNAVAILABLE"],
};
const segmentPaths = ["batch", "track", "identify", "page", "screen", "group", "alias"].map((call) => `/v1/${call}`);
const publicPaths = [
  "/healthz",
  "/readyz",
  "/metrics",
  "/openapi.json",
  "/docs",
  "/docs/assets/{file}",
  "/dashboard",
  "/dashboard/assets/{file}",
];

const gateway = createTestGateway({ now: () => Date.parse("2026-11-23T12:00:00Z") });
let document: Document;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);

const operations = () =>
  Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
  );

function responseSchema(path: string, method: string, status: number): Schema {
  const schema = document.paths[path]?.[method]?.responses[String(status)]?.content?.["application/json"]?.schema;
  if (!schema) throw new Error(`${method.toUpperCase()} ${path} documents no JSON ${status}`);
  return schema;
}

beforeAll(async () => {
  const res = await gateway.app.request("/openapi.json");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  document = (await res.json()) as Document;
});

describe("GET /openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.valid, JSON.stringify(result.errors, null, 2)).toBe(true);
    expect(validator.version).toBe("3.1");
    expect(document.openapi).toBe("3.1.0");
  });

  it("documents every route the app registers, and no other", () => {
    const registered = gateway.app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`);
    const documented = operations().map(({ path, method }) => `${method.toUpperCase()} ${path}`);
    expect(new Set(documented)).toEqual(new Set(registered));
    expect(documented).toEqual(expect.arrayContaining(["POST /v1/events/batch", "GET /v1/events/{id}", "GET /docs"]));
  });

  it("answers every error with the envelope, its code one of that status's", () => {
    for (const { path, method, operation } of operations()) {
      for (const [status, response] of Object.entries(operation.responses)) {
        // The readiness report is /readyz's 503 body by contract; every other error is the envelope.
        if (Number(status) < 400 || (path === "/readyz" && status === "503")) continue;
        const where = `${method.toUpperCase()} ${path} ${status}`;
        const schema = response.content?.["application/json"]?.schema as Schema;
        expect(schema, where).toMatchObject({ type: "object", required: ["error"], additionalProperties: false });
        const error = (schema.properties as Record<string, Schema>).error as Schema;
        expect(error, where).toMatchObject({
          required: ["code", "message", "request_id"],
          additionalProperties: false,
        });
        const codes = ((error.properties as Record<string, Schema>).code as { enum: string[] }).enum;
        expect(codes.length, where).toBeGreaterThan(0);
        expect(codesByStatus[status], where).toEqual(expect.arrayContaining(codes));
      }
      expect(operation.responses["500"], `${path} documents INTERNAL`).toBeDefined();
    }
  });

  it("asks for a key with the route's scope, except on the public routes", () => {
    for (const { path, method, operation } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      if (publicPaths.includes(path)) {
        expect(operation.security, where).toEqual([]);
        continue;
      }
      const scope = path.startsWith("/v1/stats") || method === "get" ? "read" : "ingest";
      // The Segment-compatible routes also take the key as Basic auth's user name, as the Segment SDKs send it.
      const basic = segmentPaths.includes(path) ? [{ basic: [scope] }] : [];
      expect(operation.security, where).toEqual([...basic, { apiKey: [scope] }, { bearer: [scope] }]);
      expect(Object.keys(operation.responses), where).toEqual(expect.arrayContaining(["401", "403", "429"]));
    }
  });

  it("says the event rules: lengths, formats, required fields, no other fields", () => {
    const event = document.paths["/v1/events"]?.post?.requestBody?.content["application/json"]?.schema;
    expect(event).toMatchObject({
      type: "object",
      required: ["event", "user_id"],
      additionalProperties: false,
      properties: {
        id: { type: "string", format: "uuid" },
        event: { type: "string", minLength: 1, maxLength: 128 },
        user_id: { type: "string", minLength: 1, maxLength: 128 },
        client_ts: { type: "string", format: "date-time" },
        metadata: { type: "object" },
      },
    });
    const validate = ajv.compile(event as Schema);
    expect(
      validate({ event: "signup", user_id: "u1", metadata: { plan: "pro" } }),
      ajv.errorsText(validate.errors),
    ).toBe(true);
    expect(validate({ event: "signup", user_id: "u1", foo: 1 })).toBe(false);
    expect(validate({ event: "", user_id: "u1" })).toBe(false);
    expect(validate({ event: "a\u0007b", user_id: "u1" })).toBe(false);
    const batch = document.paths["/v1/events/batch"]?.post?.requestBody?.content["application/json"]?.schema;
    expect(batch).toMatchObject({ properties: { events: { type: "array", minItems: 1, maxItems: 1000 } } });
  });
});

describe("the document as a contract: real answers match their documented schemas", () => {
  const { key } = gateway.issueKey(["ingest"]);
  const post = (body: unknown, headers: Record<string, string>) =>
    gateway.app.request("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });

  it.each<{ name: string; status: number; body: unknown; headers: Record<string, string> }>([
    { name: "an accepted event", status: 202, body: { event: "signup", user_id: "u1" }, headers: { "x-api-key": key } },
    {
      name: "an event with two unknown fields",
      status: 400,
      body: { event: "signup", user_id: "u1", foo: 1, bar: 2 },
      headers: { authorization: `Bearer ${key}` },
    },
    { name: "no key", status: 401, body: { event: "signup", user_id: "u1" }, headers: {} },
  ])("$status for $name", async ({ status, body, headers }) => {
    const res = await post(body, headers);
    const answer: unknown = await res.json();
    expect(res.status, JSON.stringify(answer)).toBe(status);
    const validate = ajv.compile(responseSchema("/v1/events", "post", status));
    expect(validate(answer), `${ajv.errorsText(validate.errors)} in ${JSON.stringify(answer)}`).toBe(true);
    if (status === 400) {
      expect((answer as { error: { details: unknown } }).error.details).toEqual({
        foo: ["is not a known field"],
        bar: ["is not a known field"],
      });
    }
  });

  it("is built once and answered 304 to a client holding it", async () => {
    const first = await gateway.app.request("/openapi.json");
    const etag = first.headers.get("etag") as string;
    expect(first.headers.get("cache-control")).toBe("no-cache");
    const again = await gateway.app.request("/openapi.json", { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
  });

  it("documents the Segment batch as analytics-node sends it, and its 200 with rejected messages", async () => {
    const message = {
      type: "track",
      event: "Signed Up",
      userId: "u1",
      messageId: "node-next-1764500000000-5b0a6f4e",
      timestamp: "2026-11-23T11:59:59.000Z",
      properties: { plan: "pro" },
      context: { library: { name: "@segment/analytics-node", version: "3.1.0" } },
      integrations: {},
    };
    const body = {
      batch: [message, { type: "track", event: "no user" }],
      writeKey: key,
      sentAt: "2026-11-23T12:00:00Z",
    };
    const validateBody = ajv.compile(
      document.paths["/v1/batch"]?.post?.requestBody?.content["application/json"]?.schema as Schema,
    );
    expect(validateBody({ ...body, batch: [message] }), ajv.errorsText(validateBody.errors)).toBe(true);
    const res = await gateway.app.request("/v1/batch", { method: "POST", body: JSON.stringify(body) });
    const answer: unknown = await res.json();
    expect(res.status, JSON.stringify(answer)).toBe(200);
    expect(answer).toMatchObject({ success: true, accepted: 1, rejected: [{ index: 1 }] });
    const validate = ajv.compile(responseSchema("/v1/batch", "post", 200));
    expect(validate(answer), `${ajv.errorsText(validate.errors)} in ${JSON.stringify(answer)}`).toBe(true);
  });
});
