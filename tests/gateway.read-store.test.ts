import { createDb, KnownUsers, storeEvents } from "@evpipe/db";
import { StoreUnavailable } from "@evpipe/gateway";
import { createReadStore } from "@evpipe/gateway/read-store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";

// The PostgreSQL adapter behind the read routes: real queries, and which failures it reports as
// StoreUnavailable (the API's 503). The routes themselves are unit-tested over doubles.
let pipeline: TestPipeline;

const id = (n: number) => `0192e4c2-0000-7000-8000-${String(n).padStart(12, "0")}`;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  const received_at = "2026-11-02T10:00:00.000Z";
  await storeEvents(
    pipeline.db,
    [
      { id: id(1), event: "signup", user_id: "u1", client_ts: "2026-11-01T10:00:00.123456Z", received_at },
      { id: id(2), event: "click", user_id: "u1", client_ts: "2026-11-02T10:00:00Z", received_at },
    ].map((event) => ({ ...event, request_id: "r", key_id: "k" })),
    new KnownUsers(),
  );
});

afterAll(async () => {
  await pipeline?.cleanup();
});

describe("the PostgreSQL read store", () => {
  it("reads events by id and by user, with positions to the microsecond", async () => {
    const { eventReads } = createReadStore(pipeline.db);
    expect(await eventReads.byId(id(1))).toMatchObject({ id: id(1), event: "signup", user_id: "u1" });
    expect(await eventReads.byId(id(99))).toBeUndefined();
    const page = await eventReads.byUser("u1", 10);
    expect(page.map(({ event, position }) => [event.id, position])).toEqual([
      [id(2), { occurredAt: "2026-11-02T10:00:00+00:00", id: id(2) }],
      [id(1), { occurredAt: "2026-11-01T10:00:00.123456+00:00", id: id(1) }],
    ]);
    const after = await eventReads.byUser("u1", 10, page[0]?.position);
    expect(after.map(({ event }) => event.id)).toEqual([id(1)]);
  });

  it("answers the stats from the rollups", async () => {
    const { stats } = createReadStore(pipeline.db);
    expect(await stats.dailyActiveUsers("2026-11-01", "2026-11-03")).toEqual([
      { day: "2026-11-01", users: 1 },
      { day: "2026-11-02", users: 1 },
      { day: "2026-11-03", users: 0 },
    ]);
    expect(await stats.topEvents("2026-11-01", "2026-11-03", 10)).toEqual([
      { event: "click", count: 1, users: 1 },
      { event: "signup", count: 1, users: 1 },
    ]);
    expect(await stats.retention("2026-11-01", "2026-11-01", 1)).toEqual([
      { cohort: "2026-11-01", users: 1, retained: [1, 1] },
    ]);
  });

  it("reports an unreachable database as StoreUnavailable, from every query", async () => {
    const db = createDb({ url: "postgres://postgres@127.0.0.1:1/none", maxConnections: 1, applicationName: "t" });
    try {
      const { eventReads, stats } = createReadStore(db);
      const attempts = [
        eventReads.byId(id(1)),
        eventReads.byUser("u1", 10),
        stats.dailyActiveUsers("2026-11-01", "2026-11-02"),
        stats.topEvents("2026-11-01", "2026-11-02", 10),
        stats.retention("2026-11-01", "2026-11-02", 7),
      ];
      for (const attempt of attempts) await expect(attempt).rejects.toBeInstanceOf(StoreUnavailable);
    } finally {
      await db.destroy();
    }
  });

  it("passes any other failure on as it is (a 500): a database that does not exist is a configuration bug", async () => {
    const url = new URL(pipeline.databaseUrl);
    url.pathname = "/evp_no_such_database";
    const db = createDb({ url: url.toString(), maxConnections: 1, applicationName: "t" });
    try {
      const failure = await createReadStore(db)
        .eventReads.byId(id(1))
        .catch((err: unknown) => err);
      expect(failure).not.toBeInstanceOf(StoreUnavailable);
      expect(failure).toMatchObject({ code: "3D000" });
    } finally {
      await db.destroy();
    }
  });
});
