import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { errorEnvelope } from "./testing/error-envelope.ts";
import { createTestGateway } from "./testing/test-deps.ts";

/** A gateway whose log lines are kept, parsed, for assertions. */
function loggingGateway() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const log = pino({ level: "debug", formatters: { level: (label) => ({ level: label }) } }, sink);
  return { gateway: createTestGateway({ log }), lines };
}

const json = { "content-type": "application/json" };

describe("answers that tell a client what to change", () => {
  it.each([
    ["PATCH", "/v1/events/batch", "GET, HEAD, POST"],
    ["PUT", "/v1/events", "GET, HEAD, POST"],
    ["DELETE", "/v1/events/0192e4c2-7f1a-4000-8000-00000000abcd", "GET, HEAD"],
    ["POST", "/v1/stats/dau", "GET, HEAD"],
    ["POST", "/healthz", "GET, HEAD"],
  ])("%s %s is 405 METHOD_NOT_ALLOWED with Allow: %s", async (method, path, allow) => {
    const { app, issueKey } = createTestGateway();
    // A key with every scope: routes behind a group's key check answer 401 before 405 to strangers.
    const { key } = issueKey(["ingest", "read", "admin"]);
    const headers = { ...json, "x-api-key": key };
    const res = await app.request(path, { method, headers, ...(method === "GET" ? {} : { body: "{}" }) });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(405);
    expect(res.headers.get("allow")).toBe(allow);
    expect(body).toEqual(
      errorEnvelope(res.headers, "METHOD_NOT_ALLOWED", `${method} is not allowed on ${path}; use ${allow}.`),
    );
  });

  it("keeps 404 NOT_FOUND for a path no method serves", async () => {
    const { app } = createTestGateway();
    const res = await app.request("/v1/event", { method: "POST", headers: json, body: "{}" });
    expect(res.status).toBe(404);
    expect(res.headers.get("allow")).toBeNull();
  });

  it.each([
    ["application/json; charset=latin1", 'The charset "latin1" is not supported; send the JSON as charset=utf-8.'],
    [
      'application/json; charset="ISO-8859-1"',
      'The charset "iso-8859-1" is not supported; send the JSON as charset=utf-8.',
    ],
    [
      "application/json; boundary=x",
      'The Content-Type parameter "boundary=x" is not supported; send application/json.',
    ],
    ["text/plain", "Content-Type must be application/json."],
  ])("refuses Content-Type %s with 415 saying what is wrong", async (contentType, message) => {
    const { app, issueKey } = createTestGateway();
    const { key } = issueKey(["ingest"]);
    const res = await app.request("/v1/events", {
      method: "POST",
      headers: { "x-api-key": key, "content-type": contentType },
      body: JSON.stringify({ event: "e", user_id: "u" }),
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual(errorEnvelope(res.headers, "UNSUPPORTED_MEDIA_TYPE", message));
  });
});

describe("request log lines", () => {
  it("name the key a 403 was given to, with level names, and keep successful probes at debug", async () => {
    const { gateway, lines } = loggingGateway();
    const { key, id } = gateway.issueKey(["read"]);
    const res = await gateway.app.request("/v1/events", {
      method: "POST",
      headers: { "x-api-key": key, ...json },
      body: JSON.stringify({ event: "e", user_id: "u" }),
    });
    expect(res.status).toBe(403);
    await gateway.app.request("/healthz");
    const requests = lines.filter((line) => line.msg === "request");
    expect(requests.map(({ level, path, status, keyId }) => ({ level, path, status, keyId }))).toEqual([
      { level: "info", path: "/v1/events", status: 403, keyId: id },
      { level: "debug", path: "/healthz", status: 200, keyId: undefined },
    ]);
  });
});
