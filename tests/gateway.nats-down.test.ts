import { errorEnvelope } from "@evpipe/gateway/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postJson } from "./support/http.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { type RunningService, startNatsServer, startService, type ThrowawayNats } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

let nats: ThrowawayNats;
let pipeline: TestPipeline;
let gateway: RunningService;
let key: string;

beforeAll(async () => {
  nats = await startNatsServer();
  pipeline = await createTestPipeline({ natsUrl: nats.url });
  ({ key } = await pipeline.createKey(["ingest"]));
  gateway = await startService("gateway", pipeline.serviceEnv({ PUBLISH_TIMEOUT_MS: "500" }));
});

afterAll(async () => {
  await gateway?.stop();
  await nats?.restart().catch(() => undefined);
  await pipeline?.cleanup();
  await nats?.cleanup();
});

describe("gateway when its NATS server is gone", () => {
  it("answers 503 UNAVAILABLE with Retry-After promptly, reports not ready, and recovers when NATS is back", async () => {
    const ok = await postJson(gateway.url, "/v1/events", { event: "before", user_id: "u" }, { "x-api-key": key });
    expect(ok.status, JSON.stringify(ok.body)).toBe(202);

    await nats.kill("SIGKILL");

    const started = performance.now();
    const down = await postJson(gateway.url, "/v1/events", { event: "during", user_id: "u" }, { "x-api-key": key });
    const elapsedMs = performance.now() - started;
    expect(down.status, JSON.stringify(down.body)).toBe(503);
    expect(down.headers.get("retry-after")).toBe("1");
    expect(down.body).toEqual(
      errorEnvelope(down.headers, "UNAVAILABLE", "The event bus did not acknowledge in time; retry with the same ids."),
    );
    // Bounded by PUBLISH_TIMEOUT_MS (500 ms), not a hang.
    expect(elapsedMs).toBeLessThan(5000);

    const ready = await fetch(`${gateway.url}/readyz`);
    expect(ready.status).toBe(503);
    const health = await fetch(`${gateway.url}/healthz`);
    expect(health.status).toBe(200);

    await nats.restart();
    // The client reconnects on its own (it never gives up) and the key bucket is still in JetStream.
    const back = await waitFor(
      "the gateway to accept again",
      async () => {
        const res = await postJson(gateway.url, "/v1/events", { event: "after", user_id: "u" }, { "x-api-key": key });
        return res.status === 202 ? res : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(back.status).toBe(202);
    await waitFor("readiness", async () => (await fetch(`${gateway.url}/readyz`)).status === 200);
  });
});
