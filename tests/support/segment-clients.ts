import { randomUUID } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import type { Database } from "@evpipe/db";
import RudderAnalytics from "@rudderstack/rudder-sdk-node";
import { Analytics, type AnalyticsSettings } from "@segment/analytics-node";
import type { Kysely } from "kysely";
import { v5 } from "uuid";
import type { TestPipeline } from "./pipeline.ts";
import { waitFor } from "./wait-for.ts";

/** One Segment message as a client put it on the wire. */
export type SentMessage = Record<string, unknown> & { messageId: string; type: string };

/** One HTTP attempt's body: `/v1/batch`'s document. */
export interface SentBatch {
  batch: SentMessage[];
  sentAt: string;
  [field: string]: unknown;
}

/** What an SDK client sent and heard: one request per HTTP attempt, retries included. */
export interface Wire {
  requests: SentBatch[];
  /** The status of each answer (analytics-node), or of each failed attempt the SDK retried (rudder). */
  statuses: number[];
  errors: unknown[];
  /** Each message sent, once, with the batch it first went out in. */
  messages(): Array<{ message: SentMessage; request: SentBatch }>;
  /** What happened on the wire, for a failure message. */
  report(): string;
}

function createWire(): Wire {
  const wire: Wire = {
    requests: [],
    statuses: [],
    errors: [],
    messages() {
      const seen = new Map<string, { message: SentMessage; request: SentBatch }>();
      for (const request of wire.requests) {
        for (const message of request.batch) {
          if (!seen.has(message.messageId)) seen.set(message.messageId, { message, request });
        }
      }
      return [...seen.values()];
    },
    report: () =>
      JSON.stringify({ statuses: wire.statuses, errors: wire.errors.map(String), requests: wire.requests.length }),
  };
  return wire;
}

/** `@segment/analytics-node` pointed at the gateway; it sends only on closeAndFlush() unless told otherwise. */
export function segmentClient(host: string, writeKey: string, settings: Partial<AnalyticsSettings> = {}) {
  const analytics = new Analytics({ writeKey, host, flushAt: 100, flushInterval: 60_000, maxRetries: 0, ...settings });
  const wire = createWire();
  analytics.on("http_request", ({ body }) => wire.requests.push(JSON.parse(body) as SentBatch));
  analytics.on("http_response", ({ status }) => wire.statuses.push(status));
  analytics.on("error", (err) => wire.errors.push(err));
  return { analytics, wire };
}

interface AxiosInternals {
  axiosInstance: {
    interceptors: { request: { use(onFulfilled: (config: { data?: unknown }) => unknown): number } };
  };
}

/**
 * `@rudderstack/rudder-sdk-node` pointed at the gateway, gzip on (its default). It sends its first message at
 * once and the others on flush() or its timer. Its requests are read by an interceptor on its axios instance
 * (a field its types do not declare), which sees each attempt's gzipped body before it goes out.
 */
export function rudderClient(dataPlaneUrl: string, writeKey: string, options: RudderAnalytics.constructorOptions = {}) {
  const wire = createWire();
  const client = new RudderAnalytics(writeKey, {
    dataPlaneUrl,
    flushAt: 100,
    flushInterval: 60_000,
    logLevel: "none",
    errorHandler: (err: unknown) => wire.errors.push(err),
    axiosRetryConfig: {
      onRetry: (_count: number, err: { response?: { status: number } }) =>
        wire.statuses.push(err.response?.status ?? 0),
    },
    ...options,
  });
  const internals = client as unknown as AxiosInternals;
  internals.axiosInstance.interceptors.request.use((config) => {
    wire.requests.push(JSON.parse(gunzipSync(config.data as Buffer).toString("utf8")) as SentBatch);
    return config;
  });
  return { client, wire };
}

/** A rudder call as a promise that settles when the batch carrying it has been answered (or given up). */
export function rudderSent(call: (done: () => void) => void): Promise<void> {
  return new Promise((resolve) => call(resolve));
}

// Fixed forever in the gateway (services/gateway/src/segment/message-id.ts): a change would store a messageId
// retried across an upgrade twice. Recomputed here so the test notices.
const evpipeNamespace = "5a0c3c52-8d7e-4b8f-9a3e-6f1d2c7b9e41";
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The event id PRODUCT.md §3 gives a messageId sent with the key `keyId`. */
export function eventIdOf(messageId: string, keyId: string): string {
  return uuidPattern.test(messageId) ? messageId.toLowerCase() : v5(messageId, v5(keyId, evpipeNamespace));
}

/** The name an event of this message is stored under. */
export function eventNameOf(message: SentMessage): string {
  if (message.type === "track") return message.event as string;
  if (message.type === "page" || message.type === "screen") return (message.name as string | undefined) ?? message.type;
  return message.type;
}

export function storedRows(db: Kysely<Database>, ids: readonly string[]) {
  return db
    .selectFrom("events")
    .select(["id", "event", "user_id", "type", "anonymous_id", "occurred_at", "received_at", "metadata", "key_id"])
    .where("id", "in", [...ids])
    .orderBy("id")
    .execute();
}

/** The rows of these event ids, once every one is stored. */
export async function storedOnce(pipeline: TestPipeline, ids: readonly string[], timeoutMs = 20_000) {
  await waitFor(`${ids.length} events stored`, async () => (await pipeline.storedCount(ids)) === ids.length, {
    timeoutMs,
  });
  return storedRows(pipeline.db, ids);
}

/**
 * Until the gateway knows a key stored after it started (its key ring follows the bucket by a watch): any answer
 * but 401 to a read of an event (403 for an ingest key, 404 for a read key), which spends none of the key's rate.
 */
export async function keyKnown(baseUrl: string, key: string) {
  const url = `${baseUrl}/v1/events/00000000-0000-4000-8000-000000000000`;
  await waitFor("the gateway to know the new key", async () => {
    return (await fetch(url, { headers: { "x-api-key": key } })).status !== 401;
  });
}

/** Until the writer has nothing pending or unacknowledged: whatever was published has had its effect. */
export async function consumerSettled(pipeline: TestPipeline) {
  await waitFor("the consumer to settle", async () => {
    const info = await pipeline.jsm.consumers.info(pipeline.names.eventsStream, pipeline.names.writerConsumer);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  });
}

export interface SegmentAnswer {
  success?: true;
  accepted?: number;
  rejected?: Array<{ index: number; messageId?: string; details: Record<string, string[]> }>;
  error?: { code: string; message: string; details?: Record<string, string[]>; request_id: string };
}

/** One POST to a Segment route with fetch: the body as JSON (or these bytes), gzipped on request. */
export async function postSegment(
  baseUrl: string,
  path: string,
  body: unknown,
  options: { headers?: Record<string, string>; gzip?: boolean } = {},
) {
  const json = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  const res = await fetch(baseUrl + path, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(options.gzip ? { "content-encoding": "gzip" } : {}),
      ...options.headers,
    },
    body: options.gzip ? gzipSync(json) : json,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: SegmentAnswer;
  try {
    parsed = JSON.parse(text) as SegmentAnswer;
  } catch {
    throw new Error(`${res.status} answer is not JSON: ${text}`);
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

export const json = (value: unknown) => Buffer.from(JSON.stringify(value));

export const trackMessage = (userId: string, extra: Record<string, unknown> = {}) => ({
  type: "track",
  event: "http-test",
  userId,
  messageId: randomUUID(),
  ...extra,
});

/** A `/v1/batch` body of exactly `size` bytes: track messages of about 30 KB (under 32 KiB each), then spaces. */
export function batchOfSize(size: number, userId: string) {
  const messages: unknown[] = [];
  while (JSON.stringify({ batch: messages }).length + 31_000 < size - 1000) {
    messages.push(trackMessage(userId, { properties: { pad: "x".repeat(30_000) } }));
  }
  return { messages, bytes: Buffer.from(JSON.stringify({ batch: messages }).padEnd(size, " ")) };
}

/** 10 MB of spaces in about 10 KB of gzip. */
export const zipBomb = () => gzipSync(Buffer.alloc(10 * 1024 * 1024, " "));

export const basicAuth = (key: string) => `Basic ${Buffer.from(`${key}:`).toString("base64")}`;

/** The 401 message of the Segment-compatible routes, written out from the contract rather than imported. */
export const writeKeyMessage =
  "A valid write key is required (Authorization: Basic, a writeKey in the body, X-API-Key or Authorization: Bearer).";
