import { verifyRollups } from "@evpipe/db";
import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { loadConsumerConfig } from "../services/consumer/src/config.ts";
import { startBatchLoad } from "./support/batch-load.ts";
import { type BatchAccepted, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { type LogLine, type RunningService, startService } from "./support/processes.ts";
import { localTcpPortsOf } from "./support/tcp-sockets.ts";
import { waitFor } from "./support/wait-for.ts";

// Each test starts the consumers it needs.
const services = usePipelineServices({ consumerEnv: false });
const running: RunningService[] = [];

// Runs before usePipelineServices' teardown (afterAll hooks run last-registered first).
afterAll(async () => {
  await Promise.all(running.map((service) => service.stop()));
});

// TAKEOVER_ACK_WAIT_MS measures the takeover with another ack wait (the old 30000, say); unset, the default's.
const takeoverAckWait = process.env.TAKEOVER_ACK_WAIT_MS;
const takeoverEnv: Record<string, string> = takeoverAckWait ? { ACK_WAIT_MS: takeoverAckWait } : {};
const ackWaitMs = loadConsumerConfig(takeoverEnv).ackWaitMs;
// The survivor's own backlog and a machine shared with other test files.
const takeoverMarginMs = 10_000;

async function startConsumer(env: Record<string, string>) {
  const consumer = await startService("consumer", services.pipeline.serviceEnv(env));
  running.push(consumer);
  return consumer;
}

const startLoad = () => startBatchLoad({ gatewayUrl: services.gateway.url, key: services.key, prefix: "takeover" });

const storedLines = (consumer: RunningService) => consumer.lines.filter((line) => line.outcome === "stored");
const lineTime = (line: LogLine) => Date.parse(line.time as string);

async function writerInfo() {
  return services.pipeline.jsm.consumers.info(
    services.pipeline.names.eventsStream,
    services.pipeline.names.writerConsumer,
  );
}

/** Runs `during` while a transaction holds `event`'s rollup row, and ends that transaction however `during` ends. */
async function whileRowLocked<T>(event: string, during: () => Promise<T>): Promise<T> {
  const release = Promise.withResolvers<void>();
  const locked = Promise.withResolvers<void>();
  const holding = services.pipeline.db.transaction().execute(async (trx) => {
    await sql`SELECT 1 FROM daily_event_counts WHERE event = ${event} FOR UPDATE`.execute(trx);
    locked.resolve();
    await release.promise;
  });
  // A transaction that fails before it holds the row fails the test instead of leaving it waiting.
  holding.catch((err: unknown) => locked.reject(err));
  try {
    await locked.promise;
    return await during();
  } finally {
    // An open transaction would hang the teardown's db.destroy().
    release.resolve();
    await holding;
  }
}

/** Whether a write of this consumer waits on a lock: its backends are those its TCP connections lead to. */
async function waitsOnLock(consumer: RunningService): Promise<boolean> {
  const ports = localTcpPortsOf(consumer.child.pid as number);
  if (ports.length === 0) return false;
  const { rows } = await sql<{ n: string }>`
    SELECT count(*) AS n FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock' AND client_port = ANY(${ports}::int[])`.execute(
    services.pipeline.db,
  );
  return Number(rows[0]?.n) > 0;
}

// Other test runs share the server, each with its own database: only this run's consumers count.
async function consumerWaitsOnLock(): Promise<boolean> {
  const { rows } = await sql<{ n: string }>`
    SELECT count(*) AS n FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'evpipe-consumer'
      AND wait_event_type = 'Lock'`.execute(services.pipeline.db);
  return Number(rows[0]?.n) > 0;
}

describe("consumer takeover", () => {
  it("has a SIGKILLed consumer's messages stored once by the other, all within ack_wait and a margin of the kill", async () => {
    const [victim, survivor] = await Promise.all([startConsumer(takeoverEnv), startConsumer(takeoverEnv)]);
    const load = startLoad();
    await waitFor(
      "both consumers to store messages",
      () => storedLines(victim).length >= 5 && storedLines(survivor).length >= 5,
      { timeoutMs: 30_000 },
    );
    // Killed in the middle of a write, so it surely holds messages: every batch of the load has takeover-0
    // events, so with that row held the victim's next write waits on it. Its statement commits once the row is
    // let go, after the kill, and is never acknowledged: the survivor gets the messages again.
    const killedAt = await whileRowLocked("takeover-0", async () => {
      await waitFor("a write of the victim to wait on the held row", () => waitsOnLock(victim), { timeoutMs: 30_000 });
      const at = Date.now();
      expect(await victim.kill("SIGKILL")).toBeNull();
      return at;
    });
    const accepted = await load.stop();

    await waitFor(
      "every accepted event to be stored",
      async () => (await services.pipeline.storedCount(accepted)) === accepted.length,
      { timeoutMs: ackWaitMs + 60_000, intervalMs: 100 },
    );
    const {
      rows: [stored],
    } = await sql<{ ids: string; distinct_ids: string; last_stored: Date }>`
      SELECT count(*) AS ids, count(DISTINCT id) AS distinct_ids, max(stored_at) AS last_stored
      FROM events WHERE id = ANY(${accepted}::uuid[])`.execute(services.pipeline.db);
    if (!stored) throw new Error("an aggregate without a row");
    expect({ ids: Number(stored.ids), distinct: Number(stored.distinct_ids) }).toEqual({
      ids: accepted.length,
      distinct: accepted.length,
    });
    // Stopped before its lines are read: its log reaches stdout up to 100 ms late (ADR §46), all of it by its exit.
    const survivorExit = await survivor.stop();
    // The messages the victim held at the kill come back to the survivor as redeliveries.
    const takenOver = storedLines(survivor).filter((line) => Number(line.deliveryCount) > 1);
    expect(takenOver.length, "the victim held no message when killed: nothing was taken over").toBeGreaterThan(0);
    const drainMs = stored.last_stored.getTime() - killedAt;
    const takeoverMs = Math.max(...takenOver.map(lineTime)) - killedAt;
    console.info(JSON.stringify({ takeover: { ackWaitMs, drainMs, takeoverMs, takenOver: takenOver.length } }));
    expect(drainMs, `drained ${drainMs} ms after the kill`).toBeLessThan(ackWaitMs + takeoverMarginMs);

    expect(survivor.lines.filter((line) => line.outcome === "retrying" || line.outcome === "dead_lettered")).toEqual(
      [],
    );
    const dlq = await services.pipeline.jsm.streams.info(services.pipeline.names.dlqStream);
    expect(dlq.state.messages).toBe(0);
    expect(await verifyRollups(services.pipeline.db)).toEqual([]);
    expect(survivorExit).toBe(0);
  });

  it("keeps a write slower than ack_wait, and a message waiting for the writer, from being redelivered", async () => {
    const env = { ACK_WAIT_MS: "2000", CONSUMER_CONCURRENCY: "1" };
    const consumer = await startConsumer(env);
    const slowEvent = `slow-${Date.now()}`;
    const send = async (requestId: string, event: string) => {
      const res = await postJson<BatchAccepted>(
        services.gateway.url,
        "/v1/events/batch",
        { events: [1, 2, 3].map((n) => ({ event, user_id: `user-${n}` })) },
        { "x-api-key": services.key, "x-request-id": requestId },
      );
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return res.body.ids;
    };
    const stored = (ids: string[]) => async () => (await services.pipeline.storedCount(ids)) === ids.length;
    await waitFor("the slow event's rollup row", stored(await send(`${slowEvent}-first`, slowEvent)));

    // The test holds the rollup row the next write must update, so that write waits on the lock.
    const { before, slowIds, waitingIds } = await whileRowLocked(slowEvent, async () => {
      const before = {
        delivered: (await writerInfo()).delivered.consumer_seq,
        published: await services.pipeline.publishedCount(),
      };
      const slowIds = await send(`${slowEvent}-slow`, slowEvent);
      await waitFor("the write to wait on the lock", consumerWaitsOnLock);
      const blockedAt = Date.now();
      // The only writer is busy: this one waits in the buffer.
      const waitingIds = await send(`${slowEvent}-waiting`, `${slowEvent}-other`);
      // The hold is the test: three ack waits without working() redeliver both messages (to this consumer).
      await waitFor(
        "the write to stay blocked for three ack waits",
        async () => {
          if (!(await consumerWaitsOnLock())) throw new Error("the write stopped waiting on the lock");
          return Date.now() - blockedAt > 3 * Number(env.ACK_WAIT_MS);
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      return { before, slowIds, waitingIds };
    });

    await waitFor("both messages to be stored", stored([...slowIds, ...waitingIds]), { timeoutMs: 30_000 });
    const info = await writerInfo();
    expect({
      delivered: info.delivered.consumer_seq - before.delivered,
      published: (await services.pipeline.publishedCount()) - before.published,
      redelivered: info.num_redelivered,
    }).toEqual({ delivered: 2, published: 2, redelivered: 0 });
    // All of its log is in once it has exited (lines reach stdout up to 100 ms late, ADR §46).
    const exit = await consumer.stop();
    const lines = storedLines(consumer).filter((line) => String(line.requestId).startsWith(`${slowEvent}-`));
    expect(lines.map((line) => [line.requestId, line.deliveryCount])).toEqual([
      [`${slowEvent}-first`, 1],
      [`${slowEvent}-slow`, 1],
      [`${slowEvent}-waiting`, 1],
    ]);
    expect(exit).toBe(0);
  });
});
