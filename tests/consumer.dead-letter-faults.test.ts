import { defaultStreamSettings, provisionStreams } from "@evpipe/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readDeadLetters } from "./support/dead-letters.ts";
import { type BatchAccepted, postJson } from "./support/http.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { installPoisonTrigger } from "./support/poison.ts";
import { type RunningService, startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

let pipeline: TestPipeline;
let gateway: RunningService;
let key: string;
const consumers: RunningService[] = [];

beforeEach(async () => {
  pipeline = await createTestPipeline();
  await installPoisonTrigger(pipeline.db);
  ({ key } = await pipeline.createKey(["ingest"]));
  gateway = await startService("gateway", pipeline.serviceEnv());
});

afterEach(async () => {
  await Promise.all([gateway?.stop(), ...consumers.splice(0).map((consumer) => consumer.stop())]);
  await pipeline?.cleanup();
});

async function startConsumer(extra: Record<string, string> = {}) {
  const consumer = await startService(
    "consumer",
    pipeline.serviceEnv({ RETRY_DELAY_UNIT_MS: "20", ACK_WAIT_MS: "2000", ...extra }),
  );
  consumers.push(consumer);
  return consumer;
}

async function sendPoisonBatch(requestId: string) {
  const res = await postJson<BatchAccepted>(
    gateway.url,
    "/v1/events/batch",
    {
      events: [
        { event: "e", user_id: "fine" },
        { event: "e", user_id: "poison-23502-q" },
      ],
    },
    { "x-api-key": key, "x-request-id": requestId },
  );
  expect(res.status).toBe(202);
  return res.body.ids;
}

describe("dead-lettering under faults", () => {
  it("makes one DLQ copy when the consumer is SIGKILLed between the DLQ publish and the term()", async () => {
    const crashing = await startConsumer({ FAULT_INJECTION: "crash-after-dead-letter" });
    const ids = await sendPoisonBatch("crash-1");
    expect(await crashing.exited).toBeNull();
    expect(crashing.child.signalCode).toBe("SIGKILL");
    const afterCrash = (await readDeadLetters(pipeline.jsm, pipeline.names.dlqStream)).filter(
      (l) => l.requestId === "crash-1",
    );
    expect(afterCrash).toHaveLength(1);

    // The original was never settled: a healthy consumer gets it again after ack_wait and dead-letters it
    // again, into the DLQ's duplicate window.
    const healthy = await startConsumer();
    await healthy.waitForLog(
      "the redelivered message dead-lettered",
      (line) => line.requestId === "crash-1" && line.outcome === "dead_lettered",
    );
    const letters = (await readDeadLetters(pipeline.jsm, pipeline.names.dlqStream)).filter(
      (l) => l.requestId === "crash-1",
    );
    expect(letters).toHaveLength(1);
    expect(letters[0]?.events?.map((e) => e.id)).toEqual([ids[1]]);
    expect(await pipeline.storedCount([ids[0] as string])).toBe(1);
    const info = await pipeline.jsm.consumers.info(pipeline.names.eventsStream, pipeline.names.writerConsumer);
    await waitFor("the original to be settled", async () => {
      const current = await pipeline.jsm.consumers.info(pipeline.names.eventsStream, pipeline.names.writerConsumer);
      return current.num_ack_pending === 0 && current.num_pending === 0;
    });
    expect(info.config.max_deliver).toBe(-1);
  });

  it("keeps a poison message while the DLQ stream is unavailable and dead-letters it once the stream is back", async () => {
    const consumer = await startConsumer();
    await pipeline.jsm.streams.delete(pipeline.names.dlqStream);
    const ids = await sendPoisonBatch("dlq-down-1");
    await consumer.waitForLog(
      "a failed dead-letter publish",
      (line) => line.requestId === "dlq-down-1" && line.msg === "dead-letter publish failed, message returned",
    );
    // The healthy event is stored regardless.
    await waitFor("the healthy event", async () => (await pipeline.storedCount([ids[0] as string])) === 1);

    await provisionStreams(pipeline.jsm, pipeline.names, { ...defaultStreamSettings, eventsMaxBytes: 512 * 1024 ** 2 });
    const letters = await waitFor(
      "the dead letter",
      async () => {
        const mine = (await readDeadLetters(pipeline.jsm, pipeline.names.dlqStream)).filter(
          (l) => l.requestId === "dlq-down-1",
        );
        return mine.length > 0 ? mine : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ reason: "permanent_error", errorCode: "23502" });
    expect(letters[0]?.events?.map((e) => e.id)).toEqual([ids[1]]);
  });

  it("stops consuming on a missing table, reports why, and dead-letters nothing", async () => {
    const consumer = await startConsumer();
    await pipeline.db.schema.alterTable("events").renameTo("events_moved").execute();
    const res = await postJson<BatchAccepted>(
      gateway.url,
      "/v1/events/batch",
      { events: [{ event: "e", user_id: "u" }] },
      { "x-api-key": key },
    );
    expect(res.status).toBe(202);

    const stopped = await consumer.waitForLog("the stop", (line) => line.outcome === "stopped");
    expect(stopped).toMatchObject({ errorCode: "42P01", level: "fatal" });
    const ready = await fetch(`${consumer.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      status: "not_ready",
      state: "stopped",
      reason: { kind: "bug", code: "42P01" },
    });
    expect((await fetch(`${consumer.url}/healthz`)).status).toBe(200);
    expect((await pipeline.jsm.streams.info(pipeline.names.dlqStream)).state.messages).toBe(0);

    // Fixed by a human, the kept message is stored by a restarted consumer.
    await pipeline.db.schema.alterTable("events_moved").renameTo("events").execute();
    await consumer.stop();
    await startConsumer();
    await waitFor("the kept event to be stored", async () => (await pipeline.storedCount(res.body.ids)) === 1, {
      timeoutMs: 20_000,
    });
    expect((await pipeline.jsm.streams.info(pipeline.names.dlqStream)).state.messages).toBe(0);
  });
});
