import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { EnvelopeEvent } from "@evpipe/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliver } from "./deliver.ts";
import { vendors } from "./vendors/index.ts";

const event: EnvelopeEvent = {
  id: "0192e4c2-7f1a-7000-8000-00000000abcd",
  event: "signup",
  user_id: "u1",
  received_at: "2026-11-30T12:00:00.000Z",
  request_id: "r",
  key_id: "k",
};
const options = { nowMs: Date.parse("2026-11-30T12:00:01.000Z"), timeoutMs: 500 };

/** What the vendor stand-in answers next, and what it was sent. */
let answer: (req: IncomingMessage, res: ServerResponse) => void = (_, res) => res.end();
const received: Array<{ url: string | undefined; headers: IncomingMessage["headers"]; body: string }> = [];
const server = createServer((req, res) => {
  let body = "";
  req.on("data", (chunk: Buffer) => {
    body += chunk.toString();
  });
  req.on("end", () => {
    received.push({ url: req.url, headers: req.headers, body });
    answer(req, res);
  });
});
let base = "";

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("delivering a batch", () => {
  it("sends the vendor's request and reports a 2xx", async () => {
    answer = (_, res) => res.writeHead(200).end('{"status":1}');
    const outcome = await deliver(vendors.posthog, { url: base, secret: "phc_1" }, [event], options);
    expect(outcome).toEqual({ kind: "answered", status: 200, retryAfter: null });
    const last = received.at(-1);
    expect(last?.url).toBe("/batch/");
    expect(JSON.parse(last?.body ?? "")).toMatchObject({ api_key: "phc_1", batch: [{ uuid: event.id }] });
  });

  it("reports a 503 with its Retry-After", async () => {
    answer = (_, res) => res.writeHead(503, { "Retry-After": "7" }).end();
    const outcome = await deliver(vendors.webhook, { url: `${base}/hook`, secret: "s" }, [event], options);
    expect(outcome).toEqual({ kind: "answered", status: 503, retryAfter: "7" });
  });

  it("reports which events a partial refusal named", async () => {
    answer = (_, res) =>
      res.writeHead(400).end(JSON.stringify({ failed_records: [{ index: 0, insert_id: event.id, message: "x" }] }));
    const outcome = await deliver(vendors.mixpanel, { url: base, secret: "token" }, [event], options);
    expect(outcome).toEqual({ kind: "answered", status: 400, retryAfter: null, refusedIds: [event.id] });
  });

  it("reports a vendor that never answers, and a closed port, as unreachable", async () => {
    answer = () => undefined;
    const silent = await deliver(vendors.webhook, { url: `${base}/slow`, secret: "s" }, [event], options);
    expect(silent).toEqual({ kind: "unreachable", error: "no answer within 500 ms" });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await deliver(vendors.webhook, { url: `http://127.0.0.1:${port}/`, secret: "s" }, [event], options);
    expect(refused).toEqual({ kind: "unreachable", error: "ECONNREFUSED" });
  });

  it("says why fetch refused a URL outright rather than its bare 'fetch failed'", async () => {
    // Port 9 (discard) is on the Fetch standard's list of bad ports: no connection is even tried.
    const blocked = await deliver(vendors.webhook, { url: "http://127.0.0.1:9/", secret: "s" }, [event], options);
    expect(blocked).toEqual({ kind: "unreachable", error: "bad port" });
  });
});
