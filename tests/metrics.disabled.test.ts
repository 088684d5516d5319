import { describe, expect, it } from "vitest";
import { type BatchAccepted, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { waitFor } from "./support/wait-for.ts";

const off = { METRICS_ENABLED: "false" };
const services = usePipelineServices({ gatewayEnv: off, consumerEnv: off });

describe("METRICS_ENABLED=false", () => {
  it("serves no /metrics on either service, and the pipeline works as before", async () => {
    const res = await postJson<BatchAccepted>(
      services.gateway.url,
      "/v1/events/batch",
      { events: [{ event: "e", user_id: "u" }] },
      { "x-api-key": services.key },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await waitFor("the event to be stored", async () => (await services.pipeline.storedCount(res.body.ids)) === 1);

    const gateway = await fetch(`${services.gateway.url}/metrics`);
    const gatewayBody = await gateway.text();
    expect(gateway.status, gatewayBody).toBe(404);
    expect(JSON.parse(gatewayBody)).toMatchObject({ error: { code: "NOT_FOUND" } });
    const consumer = await fetch(`${services.consumer.url}/metrics`);
    expect(consumer.status, await consumer.text()).toBe(404);
    expect((await fetch(`${services.consumer.url}/healthz`)).status).toBe(200);
  });
});
