import { randomUUID } from "node:crypto";
import { destinationNames } from "@evpipe/shared";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendBatches, useDestinations } from "./support/destinations.ts";
import { type BatchAccepted, postJson } from "./support/http.ts";
import { createTestPipeline, type TestPipeline, uniqueId } from "./support/pipeline.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { type RunningService, startService } from "./support/processes.ts";
import { basicAuth, eventIdOf, postSegment, storedOnce } from "./support/segment-clients.ts";
import { waitFor } from "./support/wait-for.ts";

// The first pipeline forwards to the second pipeline's own Segment-compatible route.
const services = usePipelineServices();
const destinations = useDestinations(services);
let second: TestPipeline;
let secondGateway: RunningService;
let secondConsumer: RunningService;

beforeAll(async () => {
  second = await createTestPipeline();
  const writeKey = (await second.createKey(["ingest"], "from-the-first-pipeline")).key;
  [secondGateway, secondConsumer] = await Promise.all([
    startService("gateway", second.serviceEnv()),
    startService("consumer", second.serviceEnv()),
  ]);
  await destinations.add("loop", { type: "segment", url: secondGateway.url, secret: writeKey });
});

afterAll(async () => {
  await Promise.all([secondGateway?.stop(), secondConsumer?.stop()]);
  await second?.cleanup();
});

interface Row {
  id: string;
  event: string;
  user_id: string;
  occurred_at: Date;
}

async function rows(pipeline: TestPipeline, ids: readonly string[]): Promise<Row[]> {
  const { rows } = await sql<Row>`
    SELECT id, event, user_id, occurred_at FROM events WHERE id = ANY(${[...ids]}::uuid[]) ORDER BY id`.execute(
    pipeline.db,
  );
  return rows;
}

async function totalRows(pipeline: TestPipeline): Promise<number> {
  const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM events`.execute(pipeline.db);
  return Number(rows[0]?.n);
}

const deadLettered = async () =>
  (await services.pipeline.jsm.streams.info(destinationNames(services.pipeline.namespace).dlqStream)).state.messages;

/** Until every id is stored in the second pipeline; fails at once, with them, when any were dead-lettered. */
async function storedInSecond(ids: readonly string[]) {
  const outcome = await waitFor(
    `${ids.length} events stored in the second pipeline`,
    async () => {
      const stored = await second.storedCount(ids);
      if (stored === ids.length) return { stored, deadLetters: [] };
      const deadLetters = await destinations.cli.dlqList("loop");
      if (deadLetters.length > 0) return { stored, deadLetters };
      throw new Error(`${stored} stored`);
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  expect(outcome.deadLetters.slice(0, 2), `${outcome.deadLetters.length} dead-lettered`).toEqual([]);
}

describe("destinations: Segment pointed at a second pipeline's /v1/batch", () => {
  it("stores every event sent to the first pipeline in the second exactly once, with the same ids", async () => {
    const own = await sendBatches(services.gateway.url, services.key, { batches: 12, size: 40, concurrency: 4 });
    const messages = Array.from({ length: 30 }, (_, i) => ({
      type: i % 3 === 0 ? "identify" : "track",
      event: `Loop Event ${i % 4}`,
      userId: `loop-user-${i % 6}`,
      // Half with UUIDs (the event id), half with the SDK's own ids (mapped to a UUID by the first pipeline).
      messageId: i % 2 === 0 ? randomUUID() : uniqueId("loop-msg-"),
      properties: { i },
      timestamp: new Date(Date.now() - 5000 - i).toISOString(),
    }));
    const res = await postSegment(
      services.gateway.url,
      "/v1/batch",
      { batch: messages, sentAt: new Date() },
      {
        headers: { authorization: basicAuth(services.key) },
      },
    );
    expect(res.status, res.text).toBe(200);
    const fromSegment = messages.map((message) => eventIdOf(message.messageId, services.keyId));
    const ids = [...own, ...fromSegment];
    expect(new Set(ids).size).toBe(510);

    const first = await storedOnce(services.pipeline, ids);
    await storedInSecond(ids);
    expect(await totalRows(second)).toBe(ids.length);
    // Same event, user and time on both sides: what the second pipeline stored is what the first accepted.
    const there = await rows(second, ids);
    const here = await rows(services.pipeline, ids);
    expect(first).toHaveLength(ids.length);
    expect(there).toEqual(here);
    // Nothing dead-lettered on either side of the loop.
    expect(await deadLettered()).toBe(0);
    expect((await second.jsm.streams.info(second.names.dlqStream)).state.messages).toBe(0);
  });

  it("events too many bytes for one Segment batch (500 KB) still arrive, in requests under the limit", async () => {
    const before = await totalRows(second);
    // 60 events of 12 KB each: one accepted request of 730 KB (our limit is 1 MiB), within every event limit.
    const events = Array.from({ length: 60 }, (_, i) => ({
      event: "large",
      user_id: `large-${i}`,
      metadata: { pad: "x".repeat(12_000) },
    }));
    const res = await postJson<BatchAccepted>(
      services.gateway.url,
      "/v1/events/batch",
      { events },
      {
        "x-api-key": services.key,
      },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await storedInSecond(res.body.ids);
    expect(await totalRows(second)).toBe(before + events.length);
    expect(await deadLettered()).toBe(0);
  });
});
