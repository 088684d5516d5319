import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { errorEnvelope } from "@evpipe/gateway/testing";
import { generateApiKey } from "@evpipe/shared";
import { beforeAll, describe, expect, it } from "vitest";
import { createKeepAliveClient } from "./support/keep-alive-client.ts";
import { uniqueId } from "./support/pipeline.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import {
  basicAuth,
  batchOfSize,
  consumerSettled,
  json,
  keyKnown,
  postSegment,
  storedOnce,
  trackMessage as track,
  writeKeyMessage,
  zipBomb,
} from "./support/segment-clients.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices();
const maxBody = 500 * 1024;
const keys = { read: "", revoked: "", unknown: "" };

beforeAll(async () => {
  const { pipeline } = services;
  keys.read = (await pipeline.createKey(["read"], "segment-read-only")).key;
  const revoked = await pipeline.createKey(["ingest"], "segment-revoked");
  keys.revoked = revoked.key;
  // Well-formed, with a valid checksum, but never stored.
  keys.unknown = generateApiKey({ name: "never-stored", scopes: ["ingest"] }).key;
  await Promise.all([keyKnown(services.gateway.url, keys.read), keyKnown(services.gateway.url, keys.revoked)]);
  await pipeline.revokeKey(revoked.id);
  await waitFor("the gateway to refuse the revoked key", async () => {
    const res = await postSegment(services.gateway.url, "/v1/track", track(uniqueId("u")), {
      headers: { authorization: basicAuth(keys.revoked) },
    });
    return res.status === 401;
  });
});

const auth = () => ({ authorization: basicAuth(services.key) });

interface Refusal {
  name: string;
  status: number;
  code: string;
  message: string;
  details?: Record<string, string[]>;
  /** A header the answer must carry. */
  header?: readonly [string, string];
  headers?: () => Record<string, string>;
  body?: () => Buffer;
}

const oneTrack = () => json({ batch: [track("u")] });
const gzipped = () => ({ ...auth(), "content-encoding": "gzip" });
const invalid = { status: 400, code: "VALIDATION_ERROR", message: "1 field(s) are invalid." };
const notGzip = "The request body is not valid gzip, as its Content-Encoding says.";
const unauthorized = {
  status: 401,
  code: "UNAUTHORIZED",
  message: writeKeyMessage,
  header: ["www-authenticate", 'Basic realm="evpipe"'],
} as const;
const tooLarge = {
  status: 413,
  code: "PAYLOAD_TOO_LARGE",
  message: `The request body must be at most ${maxBody} bytes.`,
};
const unsupported =
  'The Content-Encoding "br" is not supported; send the body as it is or with Content-Encoding: gzip.';

const refusals: Refusal[] = [
  {
    name: "a body that is not JSON",
    status: 400,
    code: "INVALID_JSON",
    message: "The request body is not valid JSON.",
    body: () => Buffer.from("{batch: nope"),
  },
  // As /v1/events/batch answers a body without `events`.
  {
    name: "a document without batch",
    ...invalid,
    details: { batch: ["is required"] },
    body: () => json({ sentAt: new Date() }),
  },
  {
    name: "an empty batch",
    ...invalid,
    details: { batch: ["must hold 1 to 2500 messages"] },
    body: () => json({ batch: [] }),
  },
  { name: "no key at all", ...unauthorized, headers: () => ({}) },
  { name: "an unknown key in Basic", ...unauthorized, headers: () => ({ authorization: basicAuth(keys.unknown) }) },
  {
    name: "an unknown writeKey in the body",
    ...unauthorized,
    headers: () => ({}),
    body: () => json({ batch: [track("u")], writeKey: keys.unknown }),
  },
  { name: "a revoked key", ...unauthorized, headers: () => ({ authorization: basicAuth(keys.revoked) }) },
  {
    name: "a key without the ingest scope",
    status: 403,
    code: "FORBIDDEN",
    message: 'This API key lacks the "ingest" scope.',
    headers: () => ({ authorization: basicAuth(keys.read) }),
  },
  {
    name: "a br-encoded body",
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
    message: unsupported,
    header: ["accept-encoding", "gzip"],
    headers: () => ({ ...auth(), "content-encoding": "br" }),
  },
  {
    name: "a corrupt gzip body",
    status: 400,
    code: "INVALID_JSON",
    message: notGzip,
    headers: gzipped,
    body: () => gzipSync(oneTrack()).subarray(0, 20),
  },
  { name: "a body over 500 KiB", ...tooLarge, body: () => batchOfSize(maxBody + 1, "u").bytes },
  {
    name: "a gzip body over 500 KiB inflated",
    ...tooLarge,
    headers: gzipped,
    body: () => gzipSync(batchOfSize(maxBody + 1, "u").bytes),
  },
  { name: "a zip bomb (10 MB of spaces in 10 KB)", ...tooLarge, headers: gzipped, body: zipBomb },
];

describe("Segment routes over HTTP: a request refused as a whole", () => {
  it.each(refusals)("$name: $status $code, nothing published", async (refusal) => {
    const before = await services.pipeline.publishedCount();
    const body = (refusal.body ?? oneTrack)();
    const res = await postSegment(services.gateway.url, "/v1/batch", body, { headers: (refusal.headers ?? auth)() });
    expect(res.status, res.text).toBe(refusal.status);
    expect(res.body).toEqual(errorEnvelope(res.headers, refusal.code, refusal.message, refusal.details));
    if (refusal.header) expect(res.headers.get(refusal.header[0])).toBe(refusal.header[1]);
    expect(await services.pipeline.publishedCount()).toBe(before);
  });
});

const stored = (ids: string[]) => storedOnce(services.pipeline, ids);

const idsOf = (messages: unknown[]) => messages.map((message) => (message as { messageId: string }).messageId);

describe("Segment routes over HTTP: what is accepted", () => {
  it("takes a body of exactly 500 KiB, plain or gzipped, and stores every message", async () => {
    const plain = batchOfSize(maxBody, uniqueId("limit-"));
    const zipped = batchOfSize(maxBody, uniqueId("limit-gz-"));
    expect([plain.bytes.length, zipped.bytes.length]).toEqual([maxBody, maxBody]);
    const res = await postSegment(services.gateway.url, "/v1/batch", plain.bytes, { headers: auth() });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ success: true, accepted: plain.messages.length });
    const gz = await postSegment(services.gateway.url, "/v1/batch", gzipSync(zipped.bytes), { headers: gzipped() });
    expect(gz.status, gz.text).toBe(200);
    expect(gz.body).toEqual({ success: true, accepted: zipped.messages.length });
    await stored(idsOf([...plain.messages, ...zipped.messages]));
  });

  it("reports each bad message in the 200 body and stores the good ones of the same batch", async () => {
    const user = uniqueId("per-message-");
    const good = [track(user), { type: "page", anonymousId: user, name: "Home", messageId: randomUUID() }];
    const bad = [
      { type: "track", event: "no user", messageId: randomUUID() },
      { ...track(user), type: "purchase" },
      track(user, { properties: { pad: "x".repeat(33 * 1024) } }),
      { type: "track", userId: user, messageId: randomUUID() },
      { event: "no type", userId: user, messageId: randomUUID() },
    ];
    const batch = [good[0], ...bad, good[1]];
    const res = await postSegment(services.gateway.url, "/v1/batch", { batch }, { headers: auth() });
    expect(res.status, res.text).toBe(200);
    const messageId = (index: number) => (batch[index] as { messageId: string }).messageId;
    const { rejected, ...answer } = res.body;
    expect(answer).toEqual({ success: true, accepted: 2 });
    expect(rejected?.slice(0, 4), res.text).toEqual([
      {
        index: 1,
        messageId: messageId(1),
        details: { "batch.1.userId": ["is required when there is no anonymousId"] },
      },
      {
        index: 2,
        messageId: messageId(2),
        details: { "batch.2.type": ["must be one of track, identify, page, screen, group, alias"] },
      },
      {
        index: 3,
        messageId: messageId(3),
        details: { "batch.3": ["the message must be at most 32768 bytes serialized"] },
      },
      { index: 4, messageId: messageId(4), details: { "batch.4.event": ["is required for a track call"] } },
    ]);
    expect([rejected?.[4]?.index, rejected?.[4]?.messageId], res.text).toEqual([5, messageId(5)]);
    expect(Object.keys(rejected?.[4]?.details ?? {})).toEqual(["batch.5.type"]);
    const rows = await stored(idsOf(good));
    expect(rows.map((row) => row.event).sort()).toEqual(["Home", "http-test"]);
    await consumerSettled(services.pipeline);
    expect(await services.pipeline.storedCount(idsOf(bad))).toBe(0);
    // Last, so the checks above run whatever it says: a field left out "is required", as everywhere in the API.
    expect(rejected?.[4]?.details).toEqual({ "batch.5.type": ["is required"] });
  });
});

describe("Segment routes over HTTP: how a request may come", () => {
  it("reads any Content-Type as JSON, gzip included, takes the writeKey from a gzipped body and never keeps it", async () => {
    const user = uniqueId("any-type-");
    const context = { library: { name: "curl" } };
    const ownContext = { ip: "10.0.0.1" };
    const own = track(user, { context: ownContext });
    const inherits = track(user);
    const body = gzipSync(json({ batch: [inherits, own], context, writeKey: services.key, sentAt: new Date() }));
    // As rudder-sdk-node sends it: gzip under application/x-www-form-urlencoded.
    const headers = { "content-type": "application/x-www-form-urlencoded", "content-encoding": "gzip" };
    const res = await postSegment(services.gateway.url, "/v1/batch", body, { headers });
    expect(res.status, res.text).toBe(200);
    const single = track(user, { type: "identify", traits: { plan: "pro" } });
    const plain = await postSegment(services.gateway.url, "/v1/identify", json(single), {
      headers: { "content-type": "text/plain", "x-api-key": services.key },
    });
    expect(plain.status, plain.text).toBe(200);
    expect(plain.body).toEqual({ success: true, accepted: 1 });

    const rows = await stored(idsOf([inherits, own, single]));
    const metadataOf = (message: unknown) =>
      rows.find((row) => row.id === idsOf([message])[0])?.metadata as Record<string, unknown>;
    expect(metadataOf(inherits).context).toEqual(context);
    expect(metadataOf(own).context).toEqual(ownContext);
    for (const row of rows) expect(row.metadata, JSON.stringify(row.metadata)).not.toHaveProperty("writeKey");
    expect(rows.find((row) => row.id === single.messageId)).toMatchObject({ type: "identify", event: "identify" });
  });

  it("answers a key over its rate 429 with Retry-After and X-RateLimit-Reset, and publishes nothing for it", async () => {
    const limited = await services.pipeline.createKey(["ingest"], "segment-slow", { rate: 1, burst: 1 });
    await keyKnown(services.gateway.url, limited.key);
    const send = () =>
      postSegment(services.gateway.url, "/v1/batch", oneTrack(), {
        headers: { authorization: basicAuth(limited.key) },
      });
    expect((await send()).status).toBe(200);
    const before = await services.pipeline.publishedCount();
    const sentAt = Date.now();
    const res = await send();
    expect(res.status, res.text).toBe(429);
    const message = "This API key's request rate is exceeded; retry after the given seconds.";
    expect(res.body).toEqual(errorEnvelope(res.headers, "RATE_LIMITED", message));
    expect(res.headers.get("retry-after")).toBe("1");
    // Epoch milliseconds, when a request will be let through again: within the next second at 1 request/s.
    const reset = Number(res.headers.get("x-ratelimit-reset"));
    expect(reset).toBeGreaterThan(sentAt);
    expect(reset).toBeLessThanOrEqual(Date.now() + 1000);
    expect(await services.pipeline.publishedCount()).toBe(before);
  });

  it("takes gzip bodies on our own POST /v1/events and /v1/events/batch too", async () => {
    const user = uniqueId("own-gzip-");
    const post = (path: string, body: unknown) =>
      postSegment(services.gateway.url, path, body, { gzip: true, headers: { "x-api-key": services.key } });
    const batch = await post("/v1/events/batch", { events: [{ event: "gz", user_id: user }] });
    const one = await post("/v1/events", { event: "gz", user_id: user });
    expect([batch.status, one.status], `${batch.text} ${one.text}`).toEqual([202, 202]);
    const ids = [...((batch.body as { ids: string[] }).ids ?? []), (one.body as { id: string }).id];
    expect((await stored(ids)).map((row) => row.user_id)).toEqual([user, user]);
  });

  it("keeps a keep-alive client working after a zip bomb and after a body refused part-way (Connection: close)", async () => {
    const client = createKeepAliveClient(services.gateway.url, "segment-keep-alive-");
    try {
      const headers = { "content-type": "application/json", authorization: basicAuth(services.key) };
      const bomb = await client.post("/v1/batch", { ...headers, "content-encoding": "gzip" }, [zipBomb()]);
      const afterBomb = await client.post("/v1/batch", headers, [oneTrack()]);
      // Chunked, no Content-Length: refused once 500 KiB have arrived, with the rest still on its way.
      const chunks = Array.from({ length: 12 }, () => Buffer.alloc(64 * 1024, " "));
      const large = await client.post("/v1/batch", headers, [Buffer.from('{"batch": ['), ...chunks]);
      const afterLarge = await client.post("/v1/batch", headers, [oneTrack()]);
      const report = JSON.stringify({ bomb, afterBomb, large, afterLarge });
      expect([bomb.status, afterBomb.status, large.status, afterLarge.status], report).toEqual([413, 200, 413, 200]);
      expect(large.headers.get("connection"), report).toBe("close");
      expect(
        [bomb, afterBomb, large, afterLarge].flatMap((exchange) => exchange.events),
        report,
      ).not.toContainEqual(expect.stringMatching(/^error/));
    } finally {
      client.destroy();
    }
    const metrics = await (await fetch(`${services.gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/^evpipe_http_requests_total\{route="\/v1\/batch",method="POST",status="413"\} [1-9]/m);
    expect(metrics.match(/^evpipe_http_requests_total\{.*status="5\d\d".*$/gm) ?? []).toEqual([]);
    expect((await fetch(`${services.gateway.url}/readyz`)).status).toBe(200);
  });
});
