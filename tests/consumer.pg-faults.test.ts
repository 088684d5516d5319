import { verifyRollups } from "@evpipe/db";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDeadLetters } from "./support/dead-letters.ts";
import { type BatchAccepted, events, postJson } from "./support/http.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { installPoisonTrigger } from "./support/poison.ts";
import { startPostgresServer, type ThrowawayPostgres } from "./support/postgres-server.ts";
import { type RunningService, startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

let postgres: ThrowawayPostgres;
let pipeline: TestPipeline;
let gateway: RunningService;
let consumer: RunningService;
let key: string;
let load: ReturnType<typeof startLoad> | undefined;

beforeAll(async () => {
  postgres = await startPostgresServer();
  pipeline = await createTestPipeline({ databaseUrl: postgres.url });
  ({ key } = await pipeline.createKey(["ingest"]));
  [gateway, consumer] = await Promise.all([
    startService("gateway", pipeline.serviceEnv()),
    startService(
      "consumer",
      pipeline.serviceEnv({
        RETRY_DELAY_UNIT_MS: "10",
        DB_PROBE_INTERVAL_MS: "100",
        DB_QUERY_TIMEOUT_MS: "1500",
        // Small writes, so that several are in flight whenever a fault strikes.
        CONSUMER_MAX_WRITE_EVENTS: "100",
      }),
    ),
  ]);
});

afterAll(async () => {
  await load?.stop().catch(() => undefined);
  await Promise.all([gateway?.stop(), consumer?.stop()]);
  try {
    postgres?.start();
  } catch {
    // already running
  }
  await pipeline?.cleanup();
  postgres?.cleanup();
});

/** Four producers sending 50-event batches back to back until stopped; resolves with every accepted id. */
function startLoad() {
  const accepted: string[] = [];
  let running = true;
  const producers = Array.from({ length: 4 }, async () => {
    while (running) {
      const res = await postJson<BatchAccepted>(
        gateway.url,
        "/v1/events/batch",
        { events: events(50, "load") },
        { "x-api-key": key },
      );
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      accepted.push(...res.body.ids);
    }
  });
  return {
    accepted,
    async stop() {
      running = false;
      await Promise.all(producers);
      return accepted;
    },
  };
}

function count(outcome: string): number {
  if (consumer.child.exitCode !== null)
    throw new Error(`the consumer process died with exit code ${consumer.child.exitCode}`);
  return consumer.lines.filter((line) => line.outcome === outcome).length;
}

/** Waits until the consumer has paused once more than before, and is writing again once `recover` ran. */
async function survive(fault: string, inflict: () => void, recover: () => void) {
  const [paused, resumed] = [count("paused"), count("resumed")];
  const storedBefore = Number(
    (await sql<{ n: string }>`SELECT count(*) AS n FROM events`.execute(pipeline.db)).rows[0]?.n,
  );
  inflict();
  await waitFor(`the consumer to pause after ${fault}`, () => count("paused") > paused, { timeoutMs: 20_000 });
  recover();
  await waitFor(`the consumer to resume after ${fault}`, () => count("resumed") > resumed, { timeoutMs: 30_000 });
  await waitFor(`events stored again after ${fault}`, async () => {
    const rows = await sql<{ n: string }>`SELECT count(*) AS n FROM events`.execute(pipeline.db);
    return Number(rows.rows[0]?.n) > storedBefore;
  });
}

async function terminateWriterSessions(): Promise<number> {
  const result = await sql<{ terminated: boolean }>`
    SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
    WHERE application_name = 'evpipe-consumer' AND state = 'active'`.execute(pipeline.db);
  return result.rows.length;
}

describe("PostgreSQL faults under load", () => {
  it("pauses and resumes the same process through every kind of outage, then stores every accepted event once", async () => {
    const running = startLoad();
    load = running;
    await waitFor("events flowing", () => running.accepted.length > 2000, { timeoutMs: 30_000 });

    // Sessions killed mid-statement: the writes in flight fail with 57P01 while the server stays up.
    const terminated = await waitFor(
      "writes in flight to terminate",
      async () => (await terminateWriterSessions()) || false,
    );
    expect(terminated).toBeGreaterThan(0);
    await survive("a fast shutdown", postgres.stop, postgres.start);
    await survive("a crash", postgres.crash, postgres.start);
    await survive("a hung server", postgres.freeze, postgres.thaw);
    for (let i = 0; i < 3; i++) await survive(`down/up ${i + 1}`, postgres.crash, postgres.start);

    const accepted = await running.stop();
    await waitFor(
      "every accepted event to be stored",
      async () => (await pipeline.storedCount(accepted)) === accepted.length,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const total = await sql<{ n: string }>`SELECT count(*) AS n FROM events`.execute(pipeline.db);
    expect(Number(total.rows[0]?.n)).toBe(accepted.length);
    expect(consumer.child.exitCode, "the consumer process died").toBeNull();
    expect(count("paused")).toBeGreaterThanOrEqual(6);
    expect(count("resumed")).toBe(count("paused"));
    expect(count("retrying") + count("dead_lettered")).toBe(0);
    expect((await pipeline.jsm.streams.info(pipeline.names.dlqStream)).state.messages).toBe(0);
    expect(await verifyRollups(pipeline.db)).toEqual([]);
  });

  it("counts no attempt for deliveries handed back during an outage, across consumer restarts inside it", async () => {
    await consumer.stop();
    await installPoisonTrigger(pipeline.db);
    const env = pipeline.serviceEnv({ RETRY_DELAY_UNIT_MS: "10", DB_PROBE_INTERVAL_MS: "100" });
    postgres.stop();
    const res = await postJson<BatchAccepted>(
      gateway.url,
      "/v1/events/batch",
      { events: ["ok-1", "poison-40001-restart", "ok-2"].map((user_id) => ({ event: "restart", user_id })) },
      { "x-api-key": key, "x-request-id": "restart-1" },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    // Each consumer takes the message, finds the database gone, hands it back and pauses; then it restarts.
    for (let i = 0; i < 7; i++) {
      consumer = await startService("consumer", env);
      await consumer.waitForLog("the pause", (line) => line.outcome === "paused");
      if (i < 6) expect(await consumer.stop()).toBe(0);
    }
    const info = await pipeline.jsm.consumers.info(pipeline.names.eventsStream, pipeline.names.writerConsumer);
    expect(info.delivered.consumer_seq).toBeGreaterThanOrEqual(7);
    postgres.start();

    const letter = await waitFor(
      "the transient failure's dead letter",
      async () =>
        (await readDeadLetters(pipeline.jsm, pipeline.names.dlqStream)).find((l) => l.requestId === "restart-1"),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(letter).toMatchObject({ reason: "retries_exhausted", errorCode: "40001", attempts: 6 });
    const retries = consumer.lines.filter((line) => line.requestId === "restart-1" && line.outcome === "retrying");
    expect(retries.map((line) => line.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(await pipeline.storedCount([res.body.ids[0] as string, res.body.ids[2] as string])).toBe(2);
    expect(await verifyRollups(pipeline.db)).toEqual([]);
  });
});
