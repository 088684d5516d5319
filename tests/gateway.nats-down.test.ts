import { errorEnvelope } from "@evpipe/gateway/testing";
import { describe, expect, it } from "vitest";
import { postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices({
  privateServer: "nats",
  gatewayEnv: { PUBLISH_TIMEOUT_MS: "500" },
  consumerEnv: false,
});

describe("gateway when its NATS server is gone", () => {
  it("answers 503 UNAVAILABLE with Retry-After promptly, reports not ready, and recovers when NATS is back", async () => {
    const ok = await postJson(
      services.gateway.url,
      "/v1/events",
      { event: "before", user_id: "u" },
      { "x-api-key": services.key },
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(202);

    await services.nats.kill("SIGKILL");

    const started = performance.now();
    const down = await postJson(
      services.gateway.url,
      "/v1/events",
      { event: "during", user_id: "u" },
      { "x-api-key": services.key },
    );
    const elapsedMs = performance.now() - started;
    expect(down.status, JSON.stringify(down.body)).toBe(503);
    expect(down.headers.get("retry-after")).toBe("1");
    expect(down.body).toEqual(
      errorEnvelope(down.headers, "UNAVAILABLE", "The event bus did not acknowledge in time; retry with the same ids."),
    );
    // Bounded by PUBLISH_TIMEOUT_MS (500 ms), not a hang.
    expect(elapsedMs).toBeLessThan(5000);

    const ready = await fetch(`${services.gateway.url}/readyz`);
    expect(ready.status).toBe(503);
    const health = await fetch(`${services.gateway.url}/healthz`);
    expect(health.status).toBe(200);

    await services.nats.restart();
    // The client reconnects on its own (it never gives up) and the key bucket is still in JetStream.
    const back = await waitFor(
      "the gateway to accept again",
      async () => {
        const res = await postJson(
          services.gateway.url,
          "/v1/events",
          { event: "after", user_id: "u" },
          { "x-api-key": services.key },
        );
        return res.status === 202 ? res : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(back.status).toBe(202);
    await waitFor("readiness", async () => (await fetch(`${services.gateway.url}/readyz`)).status === 200);
  });
});
