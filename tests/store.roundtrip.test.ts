import { randomUUID } from "node:crypto";
import { insertEvents, KnownUsers, storeEvents } from "@evpipe/db";
import { type EnvelopeEvent, parseJsonText } from "@evpipe/shared";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";

// The write path sends rows as one jsonb document (ADR §42): what is stored must be exactly what was given,
// whatever the text holds. Each column is compared with PostgreSQL's own reading of the original value.
let pipeline: TestPipeline;

beforeAll(async () => {
  pipeline = await createTestPipeline();
});

afterAll(async () => {
  await pipeline?.cleanup();
});

const metadataText = String.raw`{"big":12345678901234567890,"huge":1e400,"tiny":1e-400,"scale":1.50,"neg":-0,"q":"a\"b\\c\/d","u":"é😀\u00e9\u2028\t","nested":{"a":[1,null,true,"x"]},"":"empty key","__proto__":{"x":1},"arr":"{1,2}"}`;

function trickyEvents(): EnvelopeEvent[] {
  const base = { received_at: "2026-11-03T04:30:00.5Z", key_id: "k" };
  return [
    {
      ...base,
      id: randomUUID(),
      event: 'é😀 \u2028 naïve "q" \\ back',
      user_id: "u1",
      client_ts: "2026-11-02T23:30:00.123456-05:00",
      metadata: parseJsonText(metadataText) as Record<string, unknown>,
      request_id: "r1",
    },
    { ...base, id: randomUUID(), event: "plain", user_id: "u2", request_id: "r2" },
    {
      ...base,
      id: randomUUID(),
      event: '{a,b}"NULL"',
      user_id: "NULL",
      client_ts: "2026-11-02t10:00:00+14:00",
      metadata: {},
      request_id: "",
      type: "identify",
      anonymous_id: "anon-😀",
    },
  ];
}

/** One row per event: true where the stored column equals PostgreSQL's reading of the value given. */
async function storedAsGiven(events: readonly EnvelopeEvent[]) {
  const rows = [];
  for (const e of events) {
    const metadata = e.metadata === undefined ? null : e === events[0] ? metadataText : JSON.stringify(e.metadata);
    const { rows: found } = await sql<Record<string, boolean>>`
      SELECT event = ${e.event} AS event, user_id = ${e.user_id} AS user_id,
        occurred_at = ${e.client_ts ?? e.received_at}::timestamptz AS occurred_at,
        received_at = ${e.received_at}::timestamptz AS received_at,
        metadata IS NOT DISTINCT FROM ${metadata}::jsonb AS metadata,
        request_id = ${e.request_id} AS request_id, key_id = ${e.key_id} AS key_id,
        type = ${e.type ?? "track"} AS type, anonymous_id IS NOT DISTINCT FROM ${e.anonymous_id ?? null} AS anonymous_id
      FROM events WHERE id = ${e.id}`.execute(pipeline.db);
    rows.push(found[0]);
  }
  return rows;
}

const allTrue = { event: true, user_id: true, occurred_at: true, received_at: true, metadata: true };
const everyColumn = { ...allTrue, request_id: true, key_id: true, type: true, anonymous_id: true };

describe("what the write path stores", () => {
  it.each([
    ["insertEvents", (events: EnvelopeEvent[]) => insertEvents(pipeline.db, events)],
    ["storeEvents", (events: EnvelopeEvent[]) => storeEvents(pipeline.db, events, new KnownUsers())],
  ] as const)(
    "%s stores every column exactly as given, and a second write of the same ids nothing",
    async (_, write) => {
      const events = trickyEvents();
      expect((await write(events)).sort()).toEqual(events.map((e) => e.id).sort());
      expect(await storedAsGiven(events)).toEqual(events.map(() => everyColumn));
      expect(await write(events)).toEqual([]);
    },
  );
});
