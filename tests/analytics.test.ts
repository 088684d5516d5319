import type { RollupMismatch } from "@evpipe/db";
import { invalidEventQueries, invalidStatsQueries } from "@evpipe/gateway/testing";
import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { readDeadLetters } from "./support/dead-letters.ts";
import { type JsonResponse, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { installPoisonTrigger, removePoisonTrigger } from "./support/poison.ts";
import { runOps } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices({
  key: { scopes: ["ingest", "read"] },
  prepare: (pipeline) => installPoisonTrigger(pipeline.db),
  // Compacts past weeks every second instead of every hour.
  consumerEnv: { ROLLUP_COMPACT_INTERVAL_MS: "1000" },
});

const u5 = "poison-23514-u5";
const id = (n: number) => `0192e4c2-0000-7000-8000-${String(n).padStart(12, "0")}`;
// Days are UTC days of occurred_at. Expected answers are worked out by hand in the comments.
const batchA = [
  { id: id(1), event: "signup", user_id: "u1", client_ts: "2026-11-01T10:00:00Z" },
  { id: id(2), event: "click", user_id: "u1", client_ts: "2026-11-01T11:00:00Z" },
  { id: id(3), event: "click", user_id: "u1", client_ts: "2026-11-02T09:00:00Z" },
  { id: id(4), event: "click", user_id: "u1", client_ts: "2026-11-03T09:00:00Z" },
  { id: id(5), event: "signup", user_id: "u2", client_ts: "2026-11-01T12:00:00Z" },
  // 23:30 on Nov 2 in UTC-5 is 04:30 on Nov 3 UTC: counted on Nov 3.
  { id: id(6), event: "click", user_id: "u2", client_ts: "2026-11-02T23:30:00-05:00" },
  { id: id(7), event: "signup", user_id: "u3", client_ts: "2026-11-02T08:00:00Z" },
  { id: id(8), event: "purchase", user_id: "u3", client_ts: "2026-11-02T08:10:00Z" },
  { id: id(9), event: "purchase", user_id: "u3", client_ts: "2026-11-02T08:20:00Z" },
  { id: id(10), event: "click", user_id: "u3", client_ts: "2026-11-03T10:00:00Z" },
  { id: id(11), event: "click", user_id: "u4", client_ts: "2026-11-03T11:00:00Z" },
];
// Arrives later but happened first: moves u4's first-seen day from Nov 3 to Nov 1.
const lateEvent = { id: id(12), event: "click", user_id: "u4", client_ts: "2026-11-01T08:00:00Z" };
// Dead-lettered by the poison trigger, then replayed twice.
const replayed = { id: id(13), event: "purchase", user_id: u5, client_ts: "2026-11-03T12:00:00Z" };

async function get<T>(path: string, apiKey = services.key): Promise<JsonResponse<T>> {
  const res = await fetch(services.gateway.url + path, { headers: { "x-api-key": apiKey } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as T };
}

async function settled() {
  await waitFor("the consumer to settle everything", async () => {
    const info = await services.pipeline.jsm.consumers.info(
      services.pipeline.names.eventsStream,
      services.pipeline.names.writerConsumer,
    );
    return info.num_pending === 0 && info.num_ack_pending === 0;
  });
}

async function send(events: unknown[]) {
  const res = await postJson(services.gateway.url, "/v1/events/batch", { events }, { "x-api-key": services.key });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

const compacted = async () =>
  (await services.pipeline.db.selectFrom("compacted_weeks").select("week").orderBy("week").execute()).map(
    (row) => row.week,
  );

const env = () => ({
  NATS_URL: services.pipeline.natsUrl,
  NATS_NAMESPACE: services.pipeline.namespace,
  DATABASE_URL: services.pipeline.databaseUrl,
  LOG_LEVEL: "warn",
});

beforeAll(async () => {
  await send(batchA);
  await settled();
  await send([lateEvent]);
  // A redelivery the duplicate window no longer catches: the same events again under a new message id.
  const envelope = {
    v: 1,
    events: [batchA[2], batchA[0]].map((e) => ({
      ...e,
      received_at: "2026-11-23T00:00:00.000Z",
      request_id: "again",
      key_id: "k",
    })),
  };
  await services.pipeline.js.publish(services.pipeline.names.eventsSubject, JSON.stringify(envelope), {
    msgID: "redelivered-after-window",
  });
  await send([replayed]);
  await waitFor(
    "the dead letter",
    async () => (await readDeadLetters(services.pipeline.jsm, services.pipeline.names.dlqStream)).length === 1,
  );
  await removePoisonTrigger(services.pipeline.db);
  for (let i = 0; i < 2; i++) expect((await runOps(["dlq", "replay", "--all", "--json"], env())).code).toBe(0);
  await waitFor("the replayed event", async () => (await services.pipeline.storedCount([replayed.id])) === 1);
  await settled();
  // Both weeks of the data set (Monday 2026-10-26 and 2026-11-02) are over, so the consumer compacts them.
  await waitFor(
    "the consumer to compact both weeks",
    async () => (await compacted()).join() === "2026-10-26,2026-11-02",
  );
});

const expectedDau = [
  { day: "2026-11-01", users: 3 }, // u1, u2, u4 (late)
  { day: "2026-11-02", users: 2 }, // u1, u3
  { day: "2026-11-03", users: 5 }, // u1, u2 (via UTC-5), u3, u4, u5 (replayed)
  { day: "2026-11-04", users: 0 },
];
const expectedTop = [
  { event: "click", count: 7, users: 4 },
  { event: "purchase", count: 3, users: 2 },
  { event: "signup", count: 3, users: 3 },
];
const expectedRetention = [
  { cohort: "2026-11-01", users: 3, retained: [3, 1, 3] },
  { cohort: "2026-11-02", users: 1, retained: [1, 1, 0] },
  { cohort: "2026-11-03", users: 1, retained: [1, 0, 0] },
];

async function expectAnswers() {
  expect((await get("/v1/stats/dau?from=2026-11-01&to=2026-11-04")).body).toEqual({
    from: "2026-11-01",
    to: "2026-11-04",
    days: expectedDau,
  });
  expect((await get("/v1/stats/top-events?from=2026-11-01&to=2026-11-04")).body).toEqual({
    from: "2026-11-01",
    to: "2026-11-04",
    events: expectedTop,
  });
  expect((await get("/v1/stats/retention?from=2026-11-01&to=2026-11-03&days=2")).body).toEqual({
    from: "2026-11-01",
    to: "2026-11-03",
    days: 2,
    cohorts: expectedRetention,
  });
}

describe("analytics", () => {
  it("answers DAU, top events and retention exactly, counting no redelivered or replayed event twice", async () => {
    await expectAnswers();
    expect((await get("/v1/stats/top-events?from=2026-11-02&to=2026-11-02")).body).toMatchObject({
      events: [
        { event: "purchase", count: 2, users: 1 },
        { event: "click", count: 1, users: 1 },
        { event: "signup", count: 1, users: 1 },
      ],
    });
    expect(
      (await get<{ events: unknown[] }>("/v1/stats/top-events?from=2026-11-01&to=2026-11-04&limit=1")).body.events,
    ).toEqual([expectedTop[0]]);
  });

  it("rollups verify agrees with a raw recount; a corrupted rollup is found and rebuild repairs it", async () => {
    const ok = await runOps(["rollups", "verify"], env());
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("The rollups agree with a raw recount of the events.");

    const u4 = await services.pipeline.db
      .selectFrom("users")
      .select("user_no")
      .where("user_id", "=", "u4")
      .executeTakeFirstOrThrow();
    await sql`UPDATE daily_user_bits SET users = B'0'::bit(8192) WHERE day = '2026-11-02'`.execute(
      services.pipeline.db,
    );
    await sql`UPDATE daily_event_user_bits SET users = set_bit(users, ${u4.user_no % 8192}, 0)
      WHERE event = 'click' AND chunk = ${Math.floor(u4.user_no / 8192)}`.execute(services.pipeline.db);
    await services.pipeline.db
      .updateTable("users")
      .set({ first_day: "2026-10-01" })
      .where("user_id", "=", "u4")
      .execute();
    const bad = await runOps(["rollups", "verify", "--json"], env());
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout) as { agree: boolean; mismatches: RollupMismatch[] };
    expect(report.agree).toBe(false);
    expect(report.mismatches.sort((a, b) => `${a.rollup} ${a.key}`.localeCompare(`${b.rollup} ${b.key}`))).toEqual([
      { rollup: "daily_event_user_bits", key: "2026-11-01 click", stored: "1", recounted: "2 (1 differ)" },
      { rollup: "daily_event_user_bits", key: "2026-11-03 click", stored: "3", recounted: "4 (1 differ)" },
      { rollup: "daily_user_bits", key: "2026-11-02", stored: "0", recounted: "2 (2 differ)" },
      { rollup: "users", key: "u4", stored: "2026-10-01", recounted: "2026-11-01" },
    ]);

    const partial = await runOps(["rollups", "rebuild", "--from", "2026-11-02", "--to", "2026-11-02"], env());
    expect(partial.code, partial.stderr).toBe(0);
    const partialCheck = await runOps(["rollups", "verify", "--from", "2026-11-02", "--to", "2026-11-02"], env());
    expect(partialCheck.code, partialCheck.stdout).toBe(0);
    expect((await runOps(["rollups", "verify"], env())).code).toBe(1);
    const full = await runOps(["rollups", "rebuild"], env());
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).toContain("1 user(s) had a first-seen day that was too early; restart the consumers now.");
    expect((await runOps(["rollups", "verify"], env())).code).toBe(0);
    await expectAnswers();
  });

  it("looks an event up by id, and 404s one that is not stored", async () => {
    const found = await get<Record<string, unknown>>(`/v1/events/${id(6)}`);
    expect(found.status).toBe(200);
    expect(found.body).toEqual({
      id: id(6),
      event: "click",
      user_id: "u2",
      occurred_at: "2026-11-03T04:30:00.000Z",
      received_at: expect.any(String),
      stored_at: expect.any(String),
      metadata: null,
      request_id: expect.any(String),
      key_id: expect.any(String),
      type: "track",
      anonymous_id: null,
    });
    const missing = await get<{ error: { code: string } }>(`/v1/events/${id(999)}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("NOT_FOUND");
    const bad = await get<{ error: { details: unknown } }>("/v1/events/not-a-uuid");
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual({ id: ["must be a UUID"] });
  });

  it("pages through a user's events newest first with a cursor, each exactly once", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: JsonResponse<{ events: Array<{ id: string; occurred_at: string }>; next_cursor: string | null }> =
        await get(`/v1/events?user_id=u1&limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.events.map((event) => event.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([id(4), id(3), id(2), id(1)]);
  });

  it.each([...invalidStatsQueries, ...invalidEventQueries])(
    "answers %s with 400 naming each bad parameter",
    async (path, details) => {
      const res = await get<{ error: Record<string, unknown> }>(path);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error).toMatchObject({
        code: "VALIDATION_ERROR",
        details,
        request_id: res.headers.get("x-request-id"),
      });
    },
  );

  it("counts a late event into a compacted week in answers over the whole week", async () => {
    const week = { from: "2026-11-02", to: "2026-11-08" };
    const recount = async () =>
      (
        await sql<{ event: string; count: string; users: string }>`
          SELECT event, count(*) AS count, count(DISTINCT user_id) AS users FROM events
          WHERE occurred_at >= ${week.from}::date AT TIME ZONE 'UTC' AND occurred_at < (${week.to}::date + 1) AT TIME ZONE 'UTC'
          GROUP BY event ORDER BY count DESC, event`.execute(services.pipeline.db)
      ).rows.map((row) => ({ event: row.event, count: Number(row.count), users: Number(row.users) }));
    const path = `/v1/stats/top-events?from=${week.from}&to=${week.to}`;
    expect((await get<{ events: unknown[] }>(path)).body.events).toEqual(await recount());

    await send([{ id: id(20), event: "click", user_id: "u6", client_ts: "2026-11-05T10:00:00Z" }]);
    await waitFor("the late event", async () => (await services.pipeline.storedCount([id(20)])) === 1);
    const after = (await get<{ events: Array<{ event: string }> }>(path)).body.events;
    expect(after).toEqual(await recount());
    // u1, u2, u3 and u4 clicked that week already; u6 is new.
    expect(after.find((row) => row.event === "click")).toEqual({ event: "click", count: 6, users: 5 });
    const check = await runOps(["rollups", "verify"], env());
    expect(check.code, check.stdout).toBe(0);
    expect(await compacted()).toEqual(["2026-10-26", "2026-11-02"]);
  });

  it("allows a 366-day range and zero-fills it", async () => {
    const res = await get<{ days: unknown[] }>("/v1/stats/dau?from=2025-11-04&to=2026-11-04");
    expect(res.status).toBe(200);
    expect(res.body.days).toHaveLength(366);
  });
});
