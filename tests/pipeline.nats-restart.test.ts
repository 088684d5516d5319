import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BatchAccepted, events, postJson } from "./support/http.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { type RunningService, startNatsServer, startService, type ThrowawayNats } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

let nats: ThrowawayNats;
let pipeline: TestPipeline;
let gateway: RunningService;
let consumer: RunningService;
let key: string;

beforeAll(async () => {
  nats = await startNatsServer();
  pipeline = await createTestPipeline({ natsUrl: nats.url });
  ({ key } = await pipeline.createKey(["ingest"]));
  [gateway, consumer] = await Promise.all([
    startService("gateway", pipeline.serviceEnv({ PUBLISH_TIMEOUT_MS: "500" })),
    startService("consumer", pipeline.serviceEnv()),
  ]);
});

afterAll(async () => {
  await Promise.all([gateway?.stop(), consumer?.stop()]);
  await nats?.restart();
  await pipeline?.cleanup();
  await nats?.cleanup();
});

describe("NATS killed and restarted under load", () => {
  it("answers 503 while NATS is down and 202 after, and the consumer resumes by itself; every 202 is stored once", async () => {
    const accepted: string[] = [];
    const statuses: number[] = [];
    let sending = true;
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (sending) {
          const res = await postJson<BatchAccepted>(
            gateway.url,
            "/v1/events/batch",
            { events: events(25) },
            { "x-api-key": key },
          ).catch(() => ({ status: 0, body: undefined }));
          statuses.push(res.status);
          if (res.status === 202 && res.body) accepted.push(...res.body.ids);
          else await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }),
    );

    await waitFor("some accepted load", () => accepted.length > 2000);
    await nats.kill("SIGKILL");
    const downFrom = statuses.length;
    await waitFor(
      "503s while NATS is down",
      () => statuses.slice(downFrom).filter((status) => status === 503).length >= 5,
    );
    await nats.restart();
    const upFrom = statuses.length;
    await waitFor("202s again", () => statuses.slice(upFrom).filter((status) => status === 202).length >= 20, {
      timeoutMs: 30_000,
    });
    sending = false;
    await load;

    expect(new Set(statuses)).toEqual(new Set([202, 503]));
    await waitFor(
      "every accepted event to be stored",
      async () => (await pipeline.storedCount(accepted)) === accepted.length,
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
    expect(await pipeline.storedCount(accepted)).toBe(accepted.length);
    // One consumer process throughout: it resumed without a restart.
    expect(consumer.child.exitCode).toBeNull();
  });
});
