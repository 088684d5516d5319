import { verifyRollups } from "@evpipe/db";
import { describe, expect, it } from "vitest";
import { type BatchAccepted, events, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { waitFor } from "./support/wait-for.ts";

const unitMs = 10;
// Longer than the whole retry schedule: (3 + 9 + 27 + 81 + 243) units.
const outageMs = 363 * unitMs * 2;

const services = usePipelineServices({
  privateServer: "postgres",
  consumerEnv: { RETRY_DELAY_UNIT_MS: String(unitMs), DB_PROBE_INTERVAL_MS: "100" },
});

async function send(count: number): Promise<string[]> {
  const res = await postJson<BatchAccepted>(
    services.gateway.url,
    "/v1/events/batch",
    { events: events(count) },
    { "x-api-key": services.key },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.ids;
}

describe("PostgreSQL outage", () => {
  it("pauses instead of retrying or dead-lettering, reports not ready, and stores everything once the database is back", async () => {
    const accepted = [...(await send(50))];
    await waitFor(
      "the first events stored",
      async () => (await services.pipeline.storedCount(accepted)) === accepted.length,
    );

    services.postgres.stop();
    const stoppedAt = Date.now();
    // Accepting never depends on PostgreSQL.
    while (Date.now() - stoppedAt < outageMs) {
      accepted.push(...(await send(20)));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await services.consumer.waitForLog("the pause", (line) => line.outcome === "paused");
    const ready = await fetch(`${services.consumer.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ state: "paused", reason: { kind: "outage" } });

    services.postgres.start();
    await services.consumer.waitForLog("the resume", (line) => line.outcome === "resumed", 30_000);
    await waitFor(
      "every accepted event to be stored",
      async () => (await services.pipeline.storedCount(accepted)) === accepted.length,
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    expect((await fetch(`${services.consumer.url}/readyz`)).status).toBe(200);
    expect((await services.pipeline.jsm.streams.info(services.pipeline.names.dlqStream)).state.messages).toBe(0);
    // A message's retry would be logged before its store: once every stored event's line is in (the log reaches
    // stdout up to 100 ms late, ADR §46), any retry or dead letter would be too.
    await waitFor("the consumer to log every stored event", () => {
      const logged = services.consumer.lines
        .filter((line) => line.outcome === "stored")
        .reduce((sum, line) => sum + Number(line.eventCount), 0);
      return logged >= accepted.length;
    });
    expect(
      services.consumer.lines.filter((line) => line.outcome === "dead_lettered" || line.outcome === "retrying"),
    ).toEqual([]);
    expect(await verifyRollups(services.pipeline.db)).toEqual([]);
  });
});
