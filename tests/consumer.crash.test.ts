import { verifyRollups } from "@evpipe/db";
import { afterAll, describe, expect, it } from "vitest";
import { type BatchAccepted, events, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { type RunningService, startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

// Each test starts the consumers it kills.
const services = usePipelineServices({ consumerEnv: false });
const running: RunningService[] = [];

// Runs before usePipelineServices' teardown (afterAll hooks run last-registered first).
afterAll(async () => {
  await Promise.all(running.map((service) => service.stop()));
});

async function startConsumer() {
  const consumer = await startService("consumer", services.pipeline.serviceEnv({ ACK_WAIT_MS: "2000" }));
  running.push(consumer);
  return consumer;
}

/** Sends `batches` batches of `size` events, four requests at a time, and returns every accepted id. */
async function sendBatches(batches: number, size: number): Promise<string[]> {
  const accepted: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < batches) {
        next++;
        const res = await postJson<BatchAccepted>(
          services.gateway.url,
          "/v1/events/batch",
          { events: events(size) },
          { "x-api-key": services.key },
        );
        expect(res.status, JSON.stringify(res.body)).toBe(202);
        accepted.push(...res.body.ids);
      }
    }),
  );
  return accepted;
}

async function storedTotal(): Promise<number> {
  const row = await services.pipeline.db
    .selectFrom("events")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe("consumer faults", () => {
  it("loses nothing and stores nothing twice when SIGKILLed in the middle of a stream of batches", async () => {
    const first = await startConsumer();
    const sending = sendBatches(120, 100);
    await waitFor("the consumer to store some events", async () => (await storedTotal()) > 500);
    const exit = first.kill("SIGKILL");
    expect(await exit).toBeNull();
    const storedAtKill = await storedTotal();
    const accepted = await sending;
    expect(accepted).toHaveLength(12_000);
    expect(storedAtKill).toBeLessThan(accepted.length);

    // Two writers share the durable consumer from here on: concurrent writes of the same rollup rows.
    const successors = await Promise.all([startConsumer(), startConsumer()]);
    await waitFor("every accepted event to be stored", async () => (await storedTotal()) >= accepted.length, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    expect(await storedTotal()).toBe(accepted.length);
    expect(await services.pipeline.storedCount(accepted)).toBe(accepted.length);
    // The kill interrupted deliveries: their messages came back, so the test did not kill between writes.
    const redelivered = successors
      .flatMap((c) => c.lines)
      .filter((l) => l.outcome === "stored" && Number(l.deliveryCount) > 1);
    expect(redelivered.length).toBeGreaterThan(0);
    expect(await verifyRollups(services.pipeline.db)).toEqual([]);
  });

  it("finishes or returns its in-flight messages on SIGTERM, exits 0, and a restart stores the rest", async () => {
    const before = await storedTotal();
    const consumer = await startConsumer();
    const sending = sendBatches(60, 100);
    await waitFor("the consumer to store some events", async () => (await storedTotal()) > before + 300);
    expect(await consumer.stop()).toBe(0);
    expect(consumer.lines.some((line) => line.msg === "shutdown complete")).toBe(true);
    const accepted = await sending;

    await startConsumer();
    await waitFor(
      "every accepted event to be stored",
      async () => (await services.pipeline.storedCount(accepted)) === accepted.length,
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    expect(await storedTotal()).toBe(before + accepted.length);
    expect(await verifyRollups(services.pipeline.db)).toEqual([]);
  });
});
