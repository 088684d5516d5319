import http from "node:http";
import type net from "node:net";
import { waitFor } from "./wait-for.ts";

/** Whose request format a sink reads its idempotency ids out of. */
export type VendorFormat = "segment" | "posthog" | "mixpanel" | "webhook";

export interface SinkAnswer {
  status: number;
  headers?: Record<string, string>;
  /** Sent as JSON unless a string. */
  body?: unknown;
  /** Milliseconds to wait before answering, like a slow vendor. */
  delayMs?: number;
}

/** One request as the sink received it, and what it answered. */
export interface SinkRequest {
  index: number;
  method: string;
  /** The path without the query. */
  path: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  raw: string;
  /** The body parsed, or undefined when it is not JSON. */
  json: unknown;
  /** When the whole body had arrived (ms since the epoch). */
  at: number;
  /** Which connection carried it: the same number means the connection was kept alive and reused. */
  socket: number;
  /** The idempotency ids in the body, in order: Segment messageId, PostHog uuid, Mixpanel $insert_id, webhook id. */
  ids: string[];
  /** Undefined while the sink has not answered (or hangs). */
  answer?: SinkAnswer;
  answeredAt?: number;
  /** The ids the answer took: all of them on a 2xx, those not in failed_records on a Mixpanel-style 400. */
  delivered: string[];
}

/** Decides each answer; "hang" never answers (the connection is dropped at close). */
export type SinkScript = (request: SinkRequest) => SinkAnswer | "hang";

export const answerOk = (): SinkAnswer => ({ status: 200, body: { success: true } });

export const sinkScripts = {
  ok: (): SinkScript => answerOk,
  always:
    (status: number, headers?: Record<string, string>): SinkScript =>
    () => ({
      status,
      headers,
      body: { error: `refused with ${status} by the test` },
    }),
  /** `status` (with these headers) for `ms` after the first request, then 200; each answer after `delayMs`. */
  failingFor(
    ms: number,
    options: { status?: number; headers?: Record<string, string>; delayMs?: number } = {},
  ): SinkScript {
    const { status = 503, headers, delayMs } = options;
    let firstAt: number | undefined;
    return (request) => {
      firstAt ??= request.at;
      const failing = request.at - firstAt < ms;
      return failing ? { status, headers, body: { error: "not yet" }, delayMs } : { ...answerOk(), delayMs };
    };
  },
  slow:
    (delayMs: number): SinkScript =>
    () => ({ ...answerOk(), delayMs }),
  hang: (): SinkScript => () => "hang",
  /** Mixpanel's strict import: refuses the events `refused` picks (a 400 naming them), takes the rest. */
  mixpanelRefusing(refused: (event: { id: string; name: string }) => boolean): SinkScript {
    return (request) => {
      const events = request.json as Array<{ event: string; properties: { $insert_id: string } }>;
      const failed = events
        .map((event, index) => ({ index, insert_id: event.properties.$insert_id, name: event.event }))
        .filter((record) => refused({ id: record.insert_id, name: record.name }));
      if (failed.length === 0) return { status: 200, body: { code: 200, num_records_imported: events.length } };
      return {
        status: 400,
        body: {
          code: 400,
          error: "some data points in the request failed validation",
          num_records_imported: events.length - failed.length,
          status: "Bad Request",
          failed_records: failed.map(({ index, insert_id }) => ({ index, insert_id, field: "event", message: "no" })),
        },
      };
    };
  },
};

function idsIn(format: VendorFormat, json: unknown): string[] {
  const body = json as Record<string, unknown> | unknown[] | undefined;
  const list = (value: unknown) => (Array.isArray(value) ? (value as Array<Record<string, unknown>>) : []);
  if (format === "mixpanel") {
    return list(body).map((event) => (event.properties as Record<string, unknown> | undefined)?.$insert_id as string);
  }
  const record = (body ?? {}) as Record<string, unknown>;
  if (format === "webhook") return list(record.events).map((event) => event.id as string);
  if (format === "posthog") return list(record.batch).map((event) => event.uuid as string);
  return list(record.batch).map((message) => message.messageId as string);
}

function takenIds(request: SinkRequest, answer: SinkAnswer): string[] {
  if (answer.status >= 200 && answer.status < 300) return request.ids;
  const failed = (answer.body as { failed_records?: Array<{ insert_id: string }> } | undefined)?.failed_records;
  if (answer.status !== 400 || !failed) return [];
  const refused = new Set(failed.map((record) => record.insert_id));
  return request.ids.filter((id) => !refused.has(id));
}

export interface VendorSink {
  /** The base URL, http://127.0.0.1:<port>. */
  url: string;
  format: VendorFormat;
  requests: SinkRequest[];
  /** Requests received and not answered yet, now and at most. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** Connections opened so far. */
  readonly connections: number;
  answerWith(script: SinkScript): void;
  /** How many requests delivered each id (took it with their answer), each request counted once. */
  deliveredCounts(): Map<string, number>;
  /** How many requests carried each id, whatever the answer, each request counted once. */
  attemptCounts(): Map<string, number>;
  /** Requests that carried one event more than once, as `index: n ids, m distinct`: none is ever right. */
  repeatsWithinRequests(): string[];
  /** Where each of these ids (or of all ids delivered more than once) went, for a failure message. */
  whereDelivered(ids?: readonly string[]): string;
  /** When the sink first took an answer of 2xx, or undefined. */
  firstSuccessAt(): number | undefined;
  /** Resolves when every id was delivered at least once; fails after the deadline with what is missing. */
  waitForDelivered(ids: readonly string[], timeoutMs?: number): Promise<void>;
  /** What the sink saw, for a failure message. */
  report(): string;
  close(): Promise<void>;
}

function countIds(requests: SinkRequest[], pick: (request: SinkRequest) => string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of requests) for (const id of new Set(pick(request))) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

function summarize(format: VendorFormat, requests: SinkRequest[], inFlight: number): string {
  const statuses: Record<string, number> = {};
  for (const request of requests) {
    const key = String(request.answer?.status ?? "unanswered");
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  const last = requests.at(-1);
  const lastText = last ? `; last: ${last.method} ${last.path} ${last.raw.slice(0, 600)}` : "";
  return `${format} sink: ${requests.length} requests, ${inFlight} in flight, statuses ${JSON.stringify(statuses)}${lastText}`;
}

/** The request as the sink keeps it, its idempotency ids read out of the body in `format`. */
function recordOf(
  format: VendorFormat,
  req: http.IncomingMessage,
  body: Buffer,
  index: number,
  socket: number,
): SinkRequest {
  const raw = body.toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  const url = new URL(req.url ?? "/", "http://sink");
  return {
    index,
    method: req.method ?? "",
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: req.headers,
    raw,
    json,
    at: Date.now(),
    socket,
    ids: idsIn(format, json),
    delivered: [],
  };
}

/** Answers after the script's delay, unless the client gave up first; "hang" never answers. */
function answer(res: http.ServerResponse, request: SinkRequest, scripted: SinkAnswer | "hang") {
  if (scripted === "hang") return;
  const send = () => {
    if (res.destroyed) return;
    request.answer = scripted;
    request.answeredAt = Date.now();
    request.delivered = takenIds(request, scripted);
    const { body } = scripted;
    res.writeHead(scripted.status, { "content-type": "application/json", ...scripted.headers });
    res.end(body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body));
  };
  if (scripted.delayMs) setTimeout(send, scripted.delayMs);
  else send();
}

/** A vendor's endpoint on loopback: a real HTTP server that keeps connections alive and records every request. */
export async function startVendorSink(
  format: VendorFormat,
  script: SinkScript = sinkScripts.ok(),
): Promise<VendorSink> {
  const requests: SinkRequest[] = [];
  const socketIds = new WeakMap<net.Socket, number>();
  let connections = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let current = script;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.once("close", () => inFlight--);
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request = recordOf(format, req, Buffer.concat(chunks), requests.length, socketIds.get(req.socket) ?? 0);
      requests.push(request);
      answer(res, request, current(request));
    });
  });
  server.on("connection", (socket) => socketIds.set(socket, ++connections));
  // As long as vendors' load balancers keep an idle connection.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;

  const sink: VendorSink = {
    url: `http://127.0.0.1:${port}`,
    format,
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get connections() {
      return connections;
    },
    answerWith(next) {
      current = next;
    },
    deliveredCounts: () => countIds(requests, (request) => request.delivered),
    attemptCounts: () => countIds(requests, (request) => request.ids),
    repeatsWithinRequests: () =>
      requests
        .filter((request) => new Set(request.ids).size !== request.ids.length)
        .map((request) => `${request.index}: ${request.ids.length} ids, ${new Set(request.ids).size} distinct`),
    whereDelivered(ids) {
      const counts = sink.deliveredCounts();
      const wanted = new Set(ids ?? [...counts].filter(([, n]) => n > 1).map(([id]) => id));
      const lines = requests
        .filter((request) => request.delivered.some((id) => wanted.has(id)))
        .map(
          (r) =>
            `request ${r.index} on connection ${r.socket} at ${r.at}, answered ${r.answer?.status} at ${r.answeredAt}`,
        );
      return `${wanted.size} ids in ${lines.length} requests: ${lines.slice(0, 8).join("; ")}`;
    },
    firstSuccessAt: () => requests.find((r) => r.answer && r.answer.status < 300)?.answeredAt,
    async waitForDelivered(ids, timeoutMs = 30_000) {
      await waitFor(
        `${ids.length} events delivered to the ${format} sink`,
        () => {
          const counts = sink.deliveredCounts();
          const missing = ids.filter((id) => !counts.has(id));
          if (missing.length > 0) throw new Error(`${missing.length} missing (${missing[0]}, ...); ${sink.report()}`);
          return true;
        },
        { timeoutMs, intervalMs: 50 },
      );
    },
    report: () => summarize(format, requests, inFlight),
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  };
  return sink;
}
