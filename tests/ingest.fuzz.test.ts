import { createApp } from "@evpipe/gateway";
import { createJetStreamPublisher } from "@evpipe/gateway/publisher";
import { defaultEventLimits, generateApiKey, KeyRing, KeyUsage } from "@evpipe/shared";
import fc from "fast-check";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { type RunningService, startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

// FUZZ_RUNS=100000 FUZZ_SEED=7 pnpm vitest run tests/ingest.fuzz.test.ts for a longer run.
const runs = Number(process.env.FUZZ_RUNS ?? 3000);
const seed = Number(process.env.FUZZ_SEED ?? 20261123);

let pipeline: TestPipeline;
let consumer: RunningService;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  consumer = await startService("consumer", pipeline.serviceEnv());
});

afterAll(async () => {
  await consumer?.stop();
  await pipeline?.cleanup();
});

const nearText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 130 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("", "\u0000", "a\u0007b", "\u0085", "\ud800", "x".repeat(129), "😀".repeat(128)),
  },
  { weight: 1, arbitrary: fc.jsonValue() },
);
const nearTimestamp = fc.oneof(
  fc
    .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("2099-12-31T00:00:00Z"), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc.constantFrom(
    "2026-11-23T10:00:00",
    "2026-02-30T00:00:00Z",
    "2026-11-23T10:00:00+25:00",
    "0000-01-01T00:00:00Z",
    "2026-11-23 10:00:00Z",
  ),
  fc.string({ maxLength: 30 }),
  fc.integer(),
);
const nearMetadata = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 5 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 14 }) },
  {
    weight: 1,
    arbitrary: fc.dictionary(fc.string({ unit: "binary", maxLength: 6 }), fc.string({ unit: "binary", maxLength: 20 })),
  },
);
// "fresh" becomes a new unique UUID when the case runs, so a rejected event's id can be looked for later.
const nearId = fc.oneof(
  { weight: 9, arbitrary: fc.constant("fresh") },
  { weight: 1, arbitrary: fc.oneof(fc.uuid(), fc.string(), fc.integer()) },
);
/** Mostly valid, with each field wrong some of the time, so both halves of the property get exercised. */
const validText = fc.string({ minLength: 1, maxLength: 30 });
const validTimestamp = fc
  .date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date(Date.now()), noInvalidDate: true })
  .map((d) => d.toISOString());
const absentOr = <T>(valid: fc.Arbitrary<T>, near: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: valid },
    { weight: 1, arbitrary: near },
  );
const nearEvent = fc
  .record({
    id: nearId,
    event: fc.oneof({ weight: 8, arbitrary: validText }, { weight: 2, arbitrary: nearText }),
    user_id: fc.oneof({ weight: 8, arbitrary: validText }, { weight: 2, arbitrary: nearText }),
    client_ts: absentOr(validTimestamp, nearTimestamp),
    metadata: absentOr(
      fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
      nearMetadata,
    ),
    surprise: fc.oneof({ weight: 19, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.jsonValue() }),
  })
  .map((event) => Object.fromEntries(Object.entries(event).filter(([, value]) => value !== undefined)));

const body = fc.oneof(
  { weight: 5, arbitrary: fc.record({ path: fc.constant("/v1/events"), json: nearEvent }) },
  {
    weight: 4,
    arbitrary: fc.record({
      path: fc.constant("/v1/events/batch"),
      json: fc.record({ events: fc.array(nearEvent, { maxLength: 5 }) }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ path: fc.constantFrom("/v1/events", "/v1/events/batch"), json: fc.jsonValue() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      path: fc.constantFrom("/v1/events", "/v1/events/batch"),
      raw: fc.uint8Array({ maxLength: 200 }),
    }),
  },
);
const contentType = fc.oneof(
  { weight: 9, arbitrary: fc.constant("application/json") },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "text/plain",
      "application/x-www-form-urlencoded",
      "",
    ),
  },
);

describe("ingest fuzzing", () => {
  it(`never answers 5xx; every 2xx is stored and every 4xx stores nothing (${runs} cases, seed ${seed})`, async () => {
    const keys = new KeyRing();
    const { key, record } = generateApiKey({ name: "fuzz", scopes: ["ingest"], rate: 1_000_000 });
    keys.put(record);
    const publisher = createJetStreamPublisher({
      nc: pipeline.nc,
      subject: pipeline.names.eventsSubject,
      timeoutMs: 5000,
      maxInFlight: 4096,
    });
    const app = createApp({
      log: pino({ level: "silent" }),
      db: pipeline.db,
      keys,
      usage: new KeyUsage(),
      publisher,
      limits: defaultEventLimits,
      readiness: async () => ({ ready: true, checks: {} }),
    });

    let counter = 0;
    const fresh = () => `0192e4c2-0000-7000-8000-${(counter++).toString(16).padStart(12, "0")}`;
    const accepted: string[] = [];
    const rejected: string[] = [];
    const statuses = new Map<number, number>();
    const publishedBefore = await pipeline.publishedCount();
    let acceptedRequests = 0;

    await fc.assert(
      fc.asyncProperty(body, contentType, async (input, type) => {
        const assigned: string[] = [];
        const withIds = (event: Record<string, unknown>) => {
          if (event.id !== "fresh") return event;
          const id = fresh();
          assigned.push(id);
          return { ...event, id };
        };
        const isObject = (value: unknown): value is Record<string, unknown> =>
          typeof value === "object" && value !== null && !Array.isArray(value);
        let payload: string | Uint8Array;
        if ("raw" in input) payload = input.raw;
        else {
          const json: unknown = input.json;
          if (isObject(json) && "id" in json) payload = JSON.stringify(withIds(json));
          else if (isObject(json) && Array.isArray(json.events)) {
            const events = json.events.map((event: unknown) => (isObject(event) ? withIds(event) : event));
            payload = JSON.stringify({ ...json, events });
          } else payload = JSON.stringify(json ?? null);
        }

        const res = await app.request(input.path, {
          method: "POST",
          headers: { "x-api-key": key, ...(type ? { "content-type": type } : {}) },
          body: payload,
        });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status, text).toBeLessThan(500);
        const answer = JSON.parse(text) as { id?: string; ids?: string[]; error?: { code: string } };
        if (res.status === 202) {
          acceptedRequests++;
          accepted.push(...(answer.ids ?? (answer.id ? [answer.id] : [])));
        } else {
          expect(answer.error?.code, text).toBeDefined();
          rejected.push(...assigned);
        }
      }),
      { numRuns: runs, seed, verbose: 1 },
    );

    const summary = Object.fromEntries([...statuses].sort());
    process.stdout.write(`fuzz: ${runs} cases, seed ${seed}, statuses ${JSON.stringify(summary)}\n`);
    expect(acceptedRequests).toBeGreaterThan(runs / 20);
    expect(rejected.length).toBeGreaterThan(runs / 20);
    // One JetStream message per accepted request, none for a rejected one.
    expect(await pipeline.publishedCount()).toBe(publishedBefore + acceptedRequests);
    await waitFor(
      "every accepted event to be stored",
      async () => (await pipeline.storedCount(accepted)) === accepted.length,
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
    expect(await pipeline.storedCount(rejected)).toBe(0);
    expect((await pipeline.jsm.streams.info(pipeline.names.dlqStream)).state.messages).toBe(0);
    publisher.close();
  });
});
