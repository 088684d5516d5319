import { describe, expect, it } from "vitest";
import { type BatchAccepted, events, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices({ privateServer: "nats", gatewayEnv: { PUBLISH_TIMEOUT_MS: "500" } });

describe("NATS killed and restarted under load", () => {
  it("answers 503 while NATS is down and 202 after, and the consumer resumes by itself; every 202 is stored once", async () => {
    const accepted: string[] = [];
    const statuses: number[] = [];
    let sending = true;
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (sending) {
          const res = await postJson<BatchAccepted>(
            services.gateway.url,
            "/v1/events/batch",
            { events: events(25) },
            { "x-api-key": services.key },
          ).catch(() => ({ status: 0, body: undefined }));
          statuses.push(res.status);
          if (res.status === 202 && res.body) accepted.push(...res.body.ids);
          else await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }),
    );

    await waitFor("some accepted load", () => accepted.length > 2000);
    await services.nats.kill("SIGKILL");
    const downFrom = statuses.length;
    await waitFor(
      "503s while NATS is down",
      () => statuses.slice(downFrom).filter((status) => status === 503).length >= 5,
    );
    await services.nats.restart();
    const upFrom = statuses.length;
    await waitFor("202s again", () => statuses.slice(upFrom).filter((status) => status === 202).length >= 20, {
      timeoutMs: 30_000,
    });
    sending = false;
    await load;

    expect(new Set(statuses)).toEqual(new Set([202, 503]));
    await waitFor(
      "every accepted event to be stored",
      async () => (await services.pipeline.storedCount(accepted)) === accepted.length,
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
    expect(await services.pipeline.storedCount(accepted)).toBe(accepted.length);
    // One consumer process throughout: it resumed without a restart.
    expect(services.consumer.child.exitCode).toBeNull();
  });
});
