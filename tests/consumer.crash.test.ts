import { verifyRollups } from "@evpipe/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BatchAccepted, events, postJson } from "./support/http.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { type RunningService, startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

let pipeline: TestPipeline;
let gateway: RunningService;
let key: string;
const running: RunningService[] = [];

beforeAll(async () => {
  pipeline = await createTestPipeline();
  ({ key } = await pipeline.createKey(["ingest"]));
  gateway = await startService("gateway", pipeline.serviceEnv());
});

afterAll(async () => {
  await Promise.all([gateway?.stop(), ...running.map((service) => service.stop())]);
  await pipeline?.cleanup();
});

async function startConsumer() {
  const consumer = await startService("consumer", pipeline.serviceEnv({ ACK_WAIT_MS: "2000" }));
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
          gateway.url,
          "/v1/events/batch",
          { events: events(size) },
          { "x-api-key": key },
        );
        expect(res.status, JSON.stringify(res.body)).toBe(202);
        accepted.push(...res.body.ids);
      }
    }),
  );
  return accepted;
}

async function storedTotal(): Promise<number> {
  const row = await pipeline.db
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
    expect(await pipeline.storedCount(accepted)).toBe(accepted.length);
    // The kill interrupted deliveries: their messages came back, so the test did not kill between writes.
    const redelivered = successors
      .flatMap((c) => c.lines)
      .filter((l) => l.outcome === "stored" && Number(l.deliveryCount) > 1);
    expect(redelivered.length).toBeGreaterThan(0);
    expect(await verifyRollups(pipeline.db)).toEqual([]);
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
      async () => (await pipeline.storedCount(accepted)) === accepted.length,
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    expect(await storedTotal()).toBe(before + accepted.length);
    expect(await verifyRollups(pipeline.db)).toEqual([]);
  });
});
