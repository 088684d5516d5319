import { describe, expect, it } from "vitest";
import { postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { runOps } from "./support/processes.ts";
import { rawEventsHead, rawExchange } from "./support/raw-http.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices({ gatewayEnv: { REQUEST_TIMEOUT_MS: "1000" }, consumerEnv: false });
const head = (length: number) => rawEventsHead(services.key, length);
const exchange = (request: string, waitMs: number) => rawExchange(services.gateway.url, request, waitMs);

describe("lying Content-Length", () => {
  it("answers a body shorter than its Content-Length with 408 after REQUEST_TIMEOUT_MS instead of hanging, publishing nothing", async () => {
    const before = await services.pipeline.publishedCount();
    const { response, closedAfterMs } = await exchange(`${head(500)}{"event":"e","user_id":"u"}`, 10_000);
    expect(response).toMatch(/^HTTP\/1\.1 408/);
    expect(closedAfterMs).toBeDefined();
    expect(closedAfterMs).toBeLessThan(8000);
    expect(await services.pipeline.publishedCount()).toBe(before);
  });

  it("reads only Content-Length bytes of a longer body: a 400, and nothing is published", async () => {
    const before = await services.pipeline.publishedCount();
    const body = '{"event":"e","user_id":"u"}';
    const { response } = await exchange(`${head(10)}${body}`, 3000);
    // Node's parser meets the bytes past Content-Length as a malformed next request and answers 400 on the
    // connection itself; the truncated first body is invalid JSON either way.
    expect(response).toMatch(/^HTTP\/1\.1 400/);
    expect(await services.pipeline.publishedCount()).toBe(before);
  });

  it("answers 413 at once when Content-Length announces more than the limit, without reading the body", async () => {
    const before = await services.pipeline.publishedCount();
    const { response } = await exchange(head(2 * 1024 * 1024), 3000);
    expect(response).toMatch(/^HTTP\/1\.1 413/);
    expect(response).toContain('"code":"PAYLOAD_TOO_LARGE"');
    expect(await services.pipeline.publishedCount()).toBe(before);
  });
});

describe("keys over real HTTP", () => {
  const env = () => ({ NATS_URL: services.pipeline.natsUrl, NATS_NAMESPACE: services.pipeline.namespace });
  const send = (apiKey: string) =>
    postJson(services.gateway.url, "/v1/events", { event: "e", user_id: "u" }, { "x-api-key": apiKey });

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
