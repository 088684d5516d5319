import { verifyRollups } from "@evpipe/db";
import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { startBatchLoad } from "./support/batch-load.ts";
import { readDeadLetters } from "./support/dead-letters.ts";
import { type BatchAccepted, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { installPoisonTrigger } from "./support/poison.ts";
import { startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices({
  privateServer: "postgres",
  consumerEnv: {
    RETRY_DELAY_UNIT_MS: "10",
    DB_PROBE_INTERVAL_MS: "100",
    DB_QUERY_TIMEOUT_MS: "1500",
    // Small writes, so that several are in flight whenever a fault strikes.
    CONSUMER_MAX_WRITE_EVENTS: "100",
  },
});
let load: ReturnType<typeof startLoad> | undefined;

// Runs before usePipelineServices' teardown (afterAll hooks run last-registered first).
afterAll(async () => {
  await load?.stop().catch(() => undefined);
});

const startLoad = () => startBatchLoad({ gatewayUrl: services.gateway.url, key: services.key, prefix: "load" });

function count(outcome: string): number {
  if (services.consumer.child.exitCode !== null)
    throw new Error(`the consumer process died with exit code ${services.consumer.child.exitCode}`);
  return services.consumer.lines.filter((line) => line.outcome === outcome).length;
}

const consuming = async () => (await fetch(`${services.consumer.url}/readyz`)).status === 200;

/**
 * From a consumer that is consuming, waits until it has paused once more than before, and is writing again once
 * `recover` ran. (Struck while still paused by the previous fault, it would log no new pause.) With `repeat`, the
 * fault is inflicted again on every poll until it takes: a session seen active may finish its statement before
 * it is terminated, and an idle pooled session dropped under the pool fails no write.
 */
async function survive(fault: string, inflict: () => unknown, recover: () => void, repeat = false) {
  await waitFor(`the consumer to be consuming before ${fault}`, consuming, { timeoutMs: 30_000 });
  const [paused, resumed] = [count("paused"), count("resumed")];
  const storedBefore = Number(
    (await sql<{ n: string }>`SELECT count(*) AS n FROM events`.execute(services.pipeline.db)).rows[0]?.n,
  );
  await inflict();
  await waitFor(
    `the consumer to pause after ${fault}`,
    async () => {
      if (count("paused") > paused) return true;
      if (repeat) await inflict();
      return false;
    },
    { timeoutMs: 20_000 },
  );
  recover();
  await waitFor(`the consumer to resume after ${fault}`, () => count("resumed") > resumed, { timeoutMs: 30_000 });
  await waitFor(`events stored again after ${fault}`, async () => {
    const rows = await sql<{ n: string }>`SELECT count(*) AS n FROM events`.execute(services.pipeline.db);
    return Number(rows.rows[0]?.n) > storedBefore;
  });
}

async function terminateWriterSessions(): Promise<number> {
  const result = await sql<{ terminated: boolean }>`
    SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
    WHERE application_name = 'evpipe-consumer' AND state = 'active'`.execute(services.pipeline.db);
  return result.rows.length;
}

describe("PostgreSQL faults under load", () => {
  it("pauses and resumes the same process through every kind of outage, then stores every accepted event once", async () => {
    const running = startLoad();
    load = running;
    await waitFor("events flowing", () => running.accepted.length > 2000, { timeoutMs: 30_000 });

    // Sessions killed mid-statement: the writes in flight fail with 57P01 while the server stays up.
    await survive("sessions terminated mid-statement", terminateWriterSessions, () => {}, true);
    await survive("a fast shutdown", services.postgres.stop, services.postgres.start);
    await survive("a crash", services.postgres.crash, services.postgres.start);
    await survive("a hung server", services.postgres.freeze, services.postgres.thaw);
    for (let i = 0; i < 3; i++) await survive(`down/up ${i + 1}`, services.postgres.crash, services.postgres.start);

    const accepted = await running.stop();
    await waitFor(
      "every accepted event to be stored",
      async () => (await services.pipeline.storedCount(accepted)) === accepted.length,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const total = await sql<{ n: string }>`SELECT count(*) AS n FROM events`.execute(services.pipeline.db);
    expect(Number(total.rows[0]?.n)).toBe(accepted.length);
    expect(services.consumer.child.exitCode, "the consumer process died").toBeNull();
    expect(count("paused")).toBeGreaterThanOrEqual(7);
    // Consuming again at the end, whatever pause a late query timeout may have added.
    await waitFor(
      "the consumer to report ready",
      async () => (await fetch(`${services.consumer.url}/readyz`)).status === 200,
    );
    expect(count("retrying") + count("dead_lettered")).toBe(0);
    expect((await services.pipeline.jsm.streams.info(services.pipeline.names.dlqStream)).state.messages).toBe(0);
    expect(await verifyRollups(services.pipeline.db)).toEqual([]);
  });

  it("counts no attempt for deliveries handed back during an outage, across consumer restarts inside it", async () => {
    await services.consumer.stop();
    await installPoisonTrigger(services.pipeline.db);
    const env = services.pipeline.serviceEnv({ RETRY_DELAY_UNIT_MS: "10", DB_PROBE_INTERVAL_MS: "100" });
    services.postgres.stop();
    const res = await postJson<BatchAccepted>(
      services.gateway.url,
      "/v1/events/batch",
      { events: ["ok-1", "poison-40001-restart", "ok-2"].map((user_id) => ({ event: "restart", user_id })) },
      { "x-api-key": services.key, "x-request-id": "restart-1" },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    // Each consumer takes the message, finds the database gone, hands it back and pauses; then it restarts.
    for (let i = 0; i < 7; i++) {
      services.consumer = await startService("consumer", env);
      await services.consumer.waitForLog("the pause", (line) => line.outcome === "paused");
      if (i < 6) expect(await services.consumer.stop()).toBe(0);
    }
    const info = await services.pipeline.jsm.consumers.info(
      services.pipeline.names.eventsStream,
      services.pipeline.names.writerConsumer,
    );
    expect(info.delivered.consumer_seq).toBeGreaterThanOrEqual(7);
    services.postgres.start();

    const letter = await waitFor(
      "the transient failure's dead letter",
      async () =>
        (await readDeadLetters(services.pipeline.jsm, services.pipeline.names.dlqStream)).find(
          (l) => l.requestId === "restart-1",
        ),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(letter).toMatchObject({ reason: "retries_exhausted", errorCode: "40001", attempts: 6 });
    // Its last line, logged once the dead letter is acknowledged, reaches stdout up to 100 ms later (ADR §46).
    await services.consumer.waitForLog(
      "the dead-lettered line",
      (line) => line.requestId === "restart-1" && line.outcome === "dead_lettered",
    );
    const retries = services.consumer.lines.filter(
      (line) => line.requestId === "restart-1" && line.outcome === "retrying",
    );
    expect(retries.map((line) => line.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(await services.pipeline.storedCount([res.body.ids[0] as string, res.body.ids[2] as string])).toBe(2);
    expect(await verifyRollups(services.pipeline.db)).toEqual([]);
  });
});
