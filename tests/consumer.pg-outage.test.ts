import { verifyRollups } from "@evpipe/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BatchAccepted, events, postJson } from "./support/http.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { startPostgresServer, type ThrowawayPostgres } from "./support/postgres-server.ts";
import { type RunningService, startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

const unitMs = 10;
// Longer than the whole retry schedule: (3 + 9 + 27 + 81 + 243) units.
const outageMs = 363 * unitMs * 2;

let postgres: ThrowawayPostgres;
let pipeline: TestPipeline;
let gateway: RunningService;
let consumer: RunningService;
let key: string;

beforeAll(async () => {
  postgres = await startPostgresServer();
  pipeline = await createTestPipeline({ databaseUrl: postgres.url });
  ({ key } = await pipeline.createKey(["ingest"]));
  [gateway, consumer] = await Promise.all([
    startService("gateway", pipeline.serviceEnv()),
    startService("consumer", pipeline.serviceEnv({ RETRY_DELAY_UNIT_MS: String(unitMs), DB_PROBE_INTERVAL_MS: "100" })),
  ]);
});

afterAll(async () => {
  await Promise.all([gateway?.stop(), consumer?.stop()]);
  try {
    postgres?.start();
  } catch {
    // already running
  }
  await pipeline?.cleanup();
  postgres?.cleanup();
});

async function send(count: number): Promise<string[]> {
  const res = await postJson<BatchAccepted>(
    gateway.url,
    "/v1/events/batch",
    { events: events(count) },
    { "x-api-key": key },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.ids;
}

describe("PostgreSQL outage", () => {
  it("pauses instead of retrying or dead-lettering, reports not ready, and stores everything once the database is back", async () => {
    const accepted = [...(await send(50))];
    await waitFor("the first events stored", async () => (await pipeline.storedCount(accepted)) === accepted.length);

    postgres.stop();
    const stoppedAt = Date.now();
    // Accepting never depends on PostgreSQL.
    while (Date.now() - stoppedAt < outageMs) {
      accepted.push(...(await send(20)));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await consumer.waitForLog("the pause", (line) => line.outcome === "paused");
    const ready = await fetch(`${consumer.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ state: "paused", reason: { kind: "outage" } });

    postgres.start();
    await consumer.waitForLog("the resume", (line) => line.outcome === "resumed", 30_000);
    await waitFor(
      "every accepted event to be stored",
      async () => (await pipeline.storedCount(accepted)) === accepted.length,
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    expect((await fetch(`${consumer.url}/readyz`)).status).toBe(200);
    expect((await pipeline.jsm.streams.info(pipeline.names.dlqStream)).state.messages).toBe(0);
    expect(consumer.lines.filter((line) => line.outcome === "dead_lettered" || line.outcome === "retrying")).toEqual(
      [],
    );
    expect(await verifyRollups(pipeline.db)).toEqual([]);
  });
});
