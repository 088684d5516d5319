import http from "node:http";
import net from "node:net";
import { errorEnvelope } from "@evpipe/gateway/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestPipeline, type TestPipeline, uniqueId } from "./support/pipeline.ts";
import { type RunningService, startService } from "./support/processes.ts";

// PRODUCT.md §3: an answer sent before the whole request body was read says `Connection: close`, so a
// keep-alive client never sends its next request into a socket that is about to be reset.

let pipeline: TestPipeline;
let gateway: RunningService;
let key: string;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  ({ key } = await pipeline.createKey(["ingest"]));
  gateway = await startService("gateway", pipeline.serviceEnv({ REQUEST_TIMEOUT_MS: "1000" }));
});

afterAll(async () => {
  await gateway?.stop();
  await pipeline?.cleanup();
});

interface Exchange {
  requestId: string;
  status: number | undefined;
  headers: Headers;
  body: string;
  /** Which pooled socket carried it: the same number means the connection was reused. */
  socket: number;
  /** What the client saw, in order: "body sent", "response", "error <code>". */
  events: string[];
}

const socketIds = new WeakMap<net.Socket, number>();
let socketCount = 0;
let agent: http.Agent;

beforeEach(() => {
  agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
});

afterEach(() => {
  agent.destroy();
});

const chunk = (bytes: number) => Buffer.alloc(bytes, " ");
const valid = Buffer.from(JSON.stringify({ event: "e", user_id: "u" }));
const json = () => ({ "x-api-key": key, "content-type": "application/json" });

/**
 * One request through the shared keep-alive agent. The body goes out chunk by chunk (chunked encoding, no
 * Content-Length); with `expectContinue` only after the server's `100 Continue`, that is after the server has
 * seen the headers and already decided, so the body is certainly still in flight when it answers.
 */
function send(headers: Record<string, string>, chunks: Buffer[], options: { expectContinue?: boolean } = {}) {
  const { port } = new URL(gateway.url);
  return new Promise<Exchange>((resolve) => {
    const requestId = uniqueId("early-");
    const exchange: Exchange = {
      requestId,
      status: undefined,
      headers: new Headers(),
      body: "",
      socket: 0,
      events: [],
    };
    const req = http.request({
      host: "127.0.0.1",
      port: Number(port),
      path: "/v1/events",
      method: "POST",
      agent,
      headers: { ...headers, "x-request-id": requestId, ...(options.expectContinue ? { expect: "100-continue" } : {}) },
    });
    req.on("socket", (socket) => {
      if (!socketIds.has(socket)) socketIds.set(socket, ++socketCount);
      exchange.socket = socketIds.get(socket) ?? 0;
    });
    req.on("response", (res) => {
      exchange.events.push("response");
      exchange.status = res.statusCode;
      for (let i = 0; i < res.rawHeaders.length; i += 2) {
        exchange.headers.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
      }
      res.setEncoding("utf8").on("data", (text: string) => {
        exchange.body += text;
      });
    });
    req.on("finish", () => exchange.events.push("body sent"));
    req.on("error", (err: NodeJS.ErrnoException) => exchange.events.push(`error ${err.code}`));
    req.on("close", () => resolve(exchange));

    const write = async () => {
      for (const part of chunks) {
        if (req.destroyed) return;
        if (!req.write(part)) await drained(req);
      }
      req.end();
    };
    if (options.expectContinue) {
      req.flushHeaders();
      req.once("continue", () => void write());
    } else {
      void write();
    }
  });
}

function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off("drain", done).off("close", done);
      resolve();
    };
    req.once("drain", done).once("close", done);
  });
}

function expectError(exchange: Exchange, status: number, code: string, message: string) {
  expect(exchange.status, exchange.body).toBe(status);
  expect(JSON.parse(exchange.body)).toEqual(errorEnvelope(exchange.headers, code, message));
}

/** The gateway's summary log line for the request: its status, and what became of an unread body. */
function summaryOf(exchange: Exchange) {
  return gateway.waitForLog(
    `the summary of ${exchange.requestId}`,
    (logged) => logged.requestId === exchange.requestId && logged.msg === "request",
  );
}

/** What the gateway says became of the request's unread body (undefined: none was left). */
const unreadBodyOf = async (exchange: Exchange) => (await summaryOf(exchange)).unreadBody;

/**
 * Connection: close, and the gateway discarded the rest of the body before answering, so it closed a socket
 * with nothing unread on it: a FIN, not a reset that could destroy the answer on its way.
 */
async function expectCleanClose(exchange: Exchange) {
  expect(exchange.headers.get("connection")).toBe("close");
  expect(exchange.events).toEqual(["body sent", "response"]);
  expect(await unreadBodyOf(exchange)).toBe("discarded");
}

async function expectNextRequestAccepted(previous: Exchange) {
  const next = await send(json(), [valid]);
  expect(next.events).toEqual(["body sent", "response"]);
  expect(next.status, next.body).toBe(202);
  expect(next.socket).not.toBe(previous.socket);
}

describe("keep-alive clients after an early answer", () => {
  it("keeps a normal 202 alive: the next request reuses the socket", async () => {
    const first = await send(json(), [valid]);
    const second = await send(json(), [valid]);
    expect([first.status, second.status], second.body).toEqual([202, 202]);
    expect(first.headers.get("connection")).toBe("keep-alive");
    expect(second.socket).toBe(first.socket);
    expect(await unreadBodyOf(first)).toBeUndefined();
  });

  it("answers a chunked body that outgrows the limit with 413 and Connection: close, then serves the next request", async () => {
    const before = await pipeline.publishedCount();
    // 1.25 MiB in 64 KiB chunks: the gateway stops reading at 1 MiB and discards the rest before answering.
    const tooLarge = await send(
      json(),
      Array.from({ length: 20 }, () => chunk(64 * 1024)),
    );
    expectError(tooLarge, 413, "PAYLOAD_TOO_LARGE", "The request body must be at most 1048576 bytes.");
    await expectCleanClose(tooLarge);
    await expectNextRequestAccepted(tooLarge);
    expect(await pipeline.publishedCount()).toBe(before + 1);
  });

  it("answers 401 before reading the body with Connection: close, with the body still in flight", async () => {
    const headers = { "content-type": "application/json" };
    const refused = await send(
      headers,
      Array.from({ length: 8 }, () => chunk(32 * 1024)),
      { expectContinue: true },
    );
    expectError(refused, 401, "UNAUTHORIZED", "A valid API key is required (X-API-Key or Authorization: Bearer).");
    await expectCleanClose(refused);
    await expectNextRequestAccepted(refused);
  });

  it("answers 415 before reading the body with Connection: close, with the body still in flight", async () => {
    const headers = { "x-api-key": key, "content-type": "text/plain" };
    const refused = await send(
      headers,
      Array.from({ length: 8 }, () => chunk(32 * 1024)),
      { expectContinue: true },
    );
    expectError(refused, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json.");
    await expectCleanClose(refused);
    await expectNextRequestAccepted(refused);
  });

  it("closes anyway when what is left exceeds the drain budget, and the next request still succeeds", async () => {
    const huge = await send(
      json(),
      Array.from({ length: 64 }, () => chunk(64 * 1024)),
    );
    expect(await summaryOf(huge)).toMatchObject({ status: 413, unreadBody: "over_budget" });
    // Beyond the budget the close may be a reset, and a reset can beat the answer to a client still uploading
    // (its write fails first): that is the cost the budget bounds. Whatever did arrive must not invite reuse.
    if (huge.status !== undefined) {
      expectError(huge, 413, "PAYLOAD_TOO_LARGE", "The request body must be at most 1048576 bytes.");
      expect(huge.headers.get("connection")).toBe("close");
    } else {
      expect(huge.events).toEqual([expect.stringMatching(/^error (EPIPE|ECONNRESET)$/)]);
    }
    await expectNextRequestAccepted(huge);
  });
});

/** Raw bytes in, everything the server sends until it closes (or `waitMs`). */
function rawExchange(request: string, waitMs: number): Promise<{ response: string; closed: boolean }> {
  const { port } = new URL(gateway.url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port: Number(port) });
    let response = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ response, closed: false });
    }, waitMs);
    socket.on("data", (data) => {
      response += data.toString();
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ response, closed: true });
    });
    socket.on("error", () => undefined);
    socket.write(request);
  });
}

describe("answers Node and the gateway give on the connection itself", () => {
  const head = (length: number) =>
    `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: ${key}\r\n` +
    `Content-Length: ${length}\r\n\r\n`;

  it("says Connection: close on the 413 for an announced Content-Length over the limit, and closes", async () => {
    const { response, closed } = await rawExchange(head(2 * 1024 * 1024), 5000);
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response).toMatch(/\r\nconnection: close\r\n/i);
    expect(closed).toBe(true);
  });

  it("says Connection: close on Node's own 408 when a body stops short of its Content-Length", async () => {
    const { response, closed } = await rawExchange(`${head(500)}{"event":"e"`, 10_000);
    expect(response).toMatch(/^HTTP\/1\.1 408 /);
    expect(response).toMatch(/\r\nConnection: close\r\n/);
    expect(closed).toBe(true);
  });
});
