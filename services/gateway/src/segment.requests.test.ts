import { gzipSync } from "node:zlib";
import { defaultEventLimits } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { errorEnvelope } from "./testing/error-envelope.ts";
import { describeSecurity } from "./testing/security-suite.ts";
import { createTestGateway } from "./testing/test-deps.ts";

const now = Date.parse("2026-11-30T12:00:00.000Z");
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString("base64")}`;
const track = { type: "track", event: "e", userId: "u" };
const segmentUnauthorized = {
  wwwAuthenticate: 'Basic realm="evpipe"',
  message:
    "A valid write key is required (Authorization: Basic, a writeKey in the body, X-API-Key or Authorization: Bearer).",
};
const moreKeyHeaders = (key: string) => [
  { authorization: basic(key) },
  // Without the colon, as some hand-written clients send it.
  { authorization: `Basic ${Buffer.from(key).toString("base64")}` },
];

describeSecurity(
  {
    method: "POST",
    path: "/v1/batch",
    scope: "ingest",
    body: { batch: [track] },
    unauthorized: segmentUnauthorized,
    moreKeyHeaders,
  },
  () => createTestGateway(),
);
for (const type of ["track", "identify", "page", "screen", "group", "alias"]) {
  const body = { userId: "u", event: "e", groupId: "g", previousId: "p" };
  describeSecurity(
    { method: "POST", path: `/v1/${type}`, scope: "ingest", body, unauthorized: segmentUnauthorized, moreKeyHeaders },
    () => createTestGateway(),
  );
}

function setup(limits = defaultEventLimits) {
  const gateway = createTestGateway({ now: () => now, limits });
  const { key } = gateway.issueKey(["ingest"]);
  const send = (body: string | Uint8Array, headers: Record<string, string> = {}) =>
    gateway.app.request("/v1/batch", {
      method: "POST",
      headers: { authorization: basic(key), "content-type": "application/json", ...headers },
      body,
    });
  return { gateway, key, send };
}

async function expectRefused(res: Response, status: number, code: string, message: string) {
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(status);
  expect(body).toMatchObject(errorEnvelope(res.headers, code, message));
}

describe("whole-request problems on /v1/batch", () => {
  it("400 for a body that is not JSON, or not a batch", async () => {
    const { gateway, send } = setup();
    await expectRefused(await send("{batch"), 400, "INVALID_JSON", "The request body is not valid JSON.");
    await expectRefused(await send("[]"), 400, "VALIDATION_ERROR", "1 field(s) are invalid.");
    const noBatch = await send('{"sentAt": "x"}');
    expect(await noBatch.clone().json()).toMatchObject({ error: { details: { batch: ["is required"] } } });
    await expectRefused(noBatch, 400, "VALIDATION_ERROR", "1 field(s) are invalid.");
    const res = await send('{"batch": []}');
    expect(await res.json()).toMatchObject({ error: { details: { batch: ["must hold 1 to 2500 messages"] } } });
    const tooMany = await send(JSON.stringify({ batch: Array.from({ length: 2501 }, () => track) }));
    expect(await tooMany.json()).toMatchObject({ error: { details: { batch: ["must hold 1 to 2500 messages"] } } });
    expect(gateway.published).toEqual([]);
  });

  it("413 over the request limit, counted after decompression, and for a zip bomb", async () => {
    const limits = { ...defaultEventLimits, maxSegmentBodyBytes: 64 * 1024 };
    const { gateway, send } = setup(limits);
    const big = JSON.stringify({ batch: [{ ...track, properties: { blob: "x".repeat(65 * 1024) } }] });
    const tooLarge = "The request body must be at most 65536 bytes.";
    await expectRefused(await send(big), 413, "PAYLOAD_TOO_LARGE", tooLarge);
    await expectRefused(await send(gzipSync(big), { "content-encoding": "gzip" }), 413, "PAYLOAD_TOO_LARGE", tooLarge);
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, " "));
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expectRefused(await send(bomb, { "content-encoding": "gzip" }), 413, "PAYLOAD_TOO_LARGE", tooLarge);
    expect(gateway.published).toEqual([]);
  });

  it("400 for corrupt or truncated gzip", async () => {
    const { gateway, send } = setup();
    const gzip = gzipSync(JSON.stringify({ batch: [track] }));
    const notGzip = "The request body is not valid gzip, as its Content-Encoding says.";
    for (const body of [Buffer.from("plain text"), gzip.subarray(0, gzip.length - 9), Buffer.alloc(0)]) {
      await expectRefused(await send(body, { "content-encoding": "gzip" }), 400, "INVALID_JSON", notGzip);
    }
    expect(gateway.published).toEqual([]);
  });

  it("415 for a Content-Encoding it cannot decode, naming the one it can", async () => {
    const { gateway, send } = setup();
    for (const encoding of ["br", "deflate", "gzip, gzip"]) {
      const res = await send(JSON.stringify({ batch: [track] }), { "content-encoding": encoding });
      expect(res.headers.get("accept-encoding")).toBe("gzip");
      await expectRefused(
        res,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        `The Content-Encoding "${encoding}" is not supported; send the body as it is or with Content-Encoding: gzip.`,
      );
    }
    expect(gateway.published).toEqual([]);
  });

  it("429 with Retry-After in seconds and X-RateLimit-Reset in epoch milliseconds", async () => {
    const gateway = createTestGateway({ now: () => now });
    const { key } = gateway.issueKey(["ingest"], { rate: 2, burst: 1 });
    const send = () =>
      gateway.app.request("/v1/batch", {
        method: "POST",
        headers: { authorization: basic(key) },
        body: JSON.stringify({ batch: [track] }),
      });
    expect((await send()).status).toBe(200);
    const res = await send();
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.headers.get("x-ratelimit-reset")).toBe(String(now + 500));
    expect(gateway.published).toHaveLength(1);
  });
});

describe("gzip on our own routes", () => {
  it("accepts a gzip body on /v1/events and /v1/events/batch, and refuses what /v1/batch refuses", async () => {
    const gateway = createTestGateway({ now: () => now });
    const { key } = gateway.issueKey(["ingest"]);
    const post = (path: string, body: string | Uint8Array, encoding: string) =>
      gateway.app.request(path, {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json", "content-encoding": encoding },
        body,
      });
    const event = { event: "e", user_id: "u" };
    expect((await post("/v1/events", gzipSync(JSON.stringify(event)), "gzip")).status).toBe(202);
    expect((await post("/v1/events/batch", gzipSync(JSON.stringify({ events: [event] })), "x-gzip")).status).toBe(202);
    expect((await post("/v1/events", JSON.stringify(event), "identity")).status).toBe(202);
    expect(gateway.published).toHaveLength(3);
    const bomb = gzipSync(Buffer.alloc(defaultEventLimits.maxBodyBytes + 1, " "));
    await expectRefused(
      await post("/v1/events/batch", bomb, "gzip"),
      413,
      "PAYLOAD_TOO_LARGE",
      `The request body must be at most ${defaultEventLimits.maxBodyBytes} bytes.`,
    );
    const res = await post("/v1/events", JSON.stringify(event), "br");
    expect(res.status).toBe(415);
    expect(res.headers.get("accept-encoding")).toBe("gzip");
    expect(gateway.published).toHaveLength(3);
  });
});
