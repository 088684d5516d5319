import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postJson } from "./support/http.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { type RunningService, runOps, startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

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

/** Writes raw bytes to the gateway and collects whatever comes back until the server closes or `waitMs`. */
function rawExchange(
  request: string,
  waitMs: number,
): Promise<{ response: string; closedAfterMs: number | undefined }> {
  const { port } = new URL(gateway.url);
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: "127.0.0.1", port: Number(port) });
    let response = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ response, closedAfterMs: undefined });
    }, waitMs);
    socket.on("data", (chunk) => {
      response += chunk.toString();
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ response, closedAfterMs: performance.now() - started });
    });
    socket.on("error", () => undefined);
    socket.write(request);
  });
}

const head = (length: number) =>
  `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: ${key}\r\nContent-Length: ${length}\r\n\r\n`;

describe("lying Content-Length", () => {
  it("answers a body shorter than its Content-Length with 408 after REQUEST_TIMEOUT_MS instead of hanging, publishing nothing", async () => {
    const before = await pipeline.publishedCount();
    const { response, closedAfterMs } = await rawExchange(`${head(500)}{"event":"e","user_id":"u"}`, 10_000);
    expect(response).toMatch(/^HTTP\/1\.1 408/);
    expect(closedAfterMs).toBeDefined();
    expect(closedAfterMs).toBeLessThan(8000);
    expect(await pipeline.publishedCount()).toBe(before);
  });

  it("reads only Content-Length bytes of a longer body: a 400, and nothing is published", async () => {
    const before = await pipeline.publishedCount();
    const body = '{"event":"e","user_id":"u"}';
    const { response } = await rawExchange(`${head(10)}${body}`, 3000);
    // Node's parser meets the bytes past Content-Length as a malformed next request and answers 400 on the
    // connection itself; the truncated first body is invalid JSON either way.
    expect(response).toMatch(/^HTTP\/1\.1 400/);
    expect(await pipeline.publishedCount()).toBe(before);
  });

  it("answers 413 at once when Content-Length announces more than the limit, without reading the body", async () => {
    const before = await pipeline.publishedCount();
    const { response } = await rawExchange(head(2 * 1024 * 1024), 3000);
    expect(response).toMatch(/^HTTP\/1\.1 413/);
    expect(response).toContain('"code":"PAYLOAD_TOO_LARGE"');
    expect(await pipeline.publishedCount()).toBe(before);
  });
});

describe("keys over real HTTP", () => {
  const env = () => ({ NATS_URL: pipeline.natsUrl, NATS_NAMESPACE: pipeline.namespace });
  const send = (apiKey: string) =>
    postJson(gateway.url, "/v1/events", { event: "e", user_id: "u" }, { "x-api-key": apiKey });

  it("rate-limits a key made with --rate and --burst, with a Retry-After that holds", async () => {
    const created = await runOps(
      ["keys", "create", "--name", "slow", "--scopes", "ingest", "--rate", "1", "--burst", "2", "--json"],
      env(),
    );
    expect(created.code, created.stderr).toBe(0);
    const slow = (JSON.parse(created.stdout) as { key: string }).key;
    await waitFor("the key to reach the gateway", async () => (await send(slow)).status === 202);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await send(slow));
    expect(statuses.map((res) => res.status)).toEqual([202, 429, 429]);
    const limited = statuses[2] as Awaited<ReturnType<typeof send>>;
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBe(1);
    expect((limited.body as { error: { code: string } }).error.code).toBe("RATE_LIMITED");
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
    expect((await send(slow)).status).toBe(202);
  });

  it("lets a producer hold two active keys for rotation, and revoking the old one leaves the new one working", async () => {
    const make = async () => {
      const created = await runOps(["keys", "create", "--name", "shop-7", "--scopes", "ingest", "--json"], env());
      return JSON.parse(created.stdout) as { id: string; key: string };
    };
    const [old, fresh] = [await make(), await make()];
    await waitFor(
      "both keys",
      async () => (await send(old.key)).status === 202 && (await send(fresh.key)).status === 202,
    );
    expect((await runOps(["keys", "revoke", old.id], env())).code).toBe(0);
    await waitFor("the old key refused", async () => (await send(old.key)).status === 401, { timeoutMs: 5000 });
    expect((await send(fresh.key)).status).toBe(202);
  });
});
