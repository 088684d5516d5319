import { randomUUID } from "node:crypto";
import { dailyActiveUsers, KnownUsers, storeEvents } from "@evpipe/db";
import { type EnvelopeEvent, seededRandom } from "@evpipe/shared";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";

// The consumer runs several storeEvents at once on one KnownUsers. Users new to one write may be created by
// another meanwhile, and late events move a known user's first day back: both lock rows of `users`, and two
// writes that lock them in different orders deadlock (40P01), which costs the consumer a retry of a whole write.
let pipeline: TestPipeline;

beforeAll(async () => {
  pipeline = await createTestPipeline();
});

afterAll(async () => {
  await pipeline?.cleanup();
});

const writers = 6;
const writesPerWriter = 40;
const eventsPerWrite = 120;
const today = Date.UTC(2026, 10, 20);
const dayMs = 86_400_000;

/**
 * A write of events from a window of users that moves on with every write, so each write brings users that
 * concurrent writes bring too, some new and some just created; a third of the events are from up to 6 days
 * earlier, so known users keep getting earlier first days.
 */
function writeEvents(random: () => number, step: number, run: string): EnvelopeEvent[] {
  return Array.from({ length: eventsPerWrite }, () => {
    const user = step * 4 + Math.floor(random() * 60);
    const late = random() < 1 / 3 ? 1 + Math.floor(random() * 6) : 0;
    const at = new Date(today - late * dayMs + Math.floor(random() * 3_600_000)).toISOString();
    return {
      id: randomUUID(),
      event: `e${Math.floor(random() * 5)}`,
      user_id: `${run}-u${String(user).padStart(5, "0")}`,
      client_ts: at,
      received_at: new Date(today).toISOString(),
      request_id: "r",
      key_id: "k",
    };
  });
}

describe("storeEvents run concurrently", () => {
  it("never deadlocks, and each user's first day and daily counts are those of their events", async () => {
    const run = randomUUID().slice(0, 8);
    const known = new KnownUsers();
    const deadlocks: string[] = [];
    let sent = 0;
    await Promise.all(
      Array.from({ length: writers }, async (_, writer) => {
        const random = seededRandom(writer + 1);
        for (let write = 0; write < writesPerWriter; write++) {
          const events = writeEvents(random, write * writers + writer, run);
          sent += events.length;
          try {
            await storeEvents(pipeline.db, events, known);
          } catch (err) {
            if ((err as { code?: string }).code !== "40P01") throw err;
            deadlocks.push(`writer ${writer}, write ${write}: ${(err as Error).message}`);
            await storeEvents(pipeline.db, events, known);
          }
        }
      }),
    );
    expect(deadlocks, deadlocks.join("\n")).toEqual([]);

    const { rows } = await sql<{ stored: number; wrong_first_day: number; users: number }>`
      SELECT (SELECT count(*)::int FROM events WHERE user_id LIKE ${`${run}-%`}) AS stored,
        (SELECT count(*)::int FROM users u
          WHERE u.user_id LIKE ${`${run}-%`}
            AND u.first_day <> (SELECT min((occurred_at AT TIME ZONE 'UTC')::date) FROM events e
              WHERE e.user_id = u.user_id)) AS wrong_first_day,
        (SELECT count(*)::int FROM users WHERE user_id LIKE ${`${run}-%`}) AS users`.execute(pipeline.db);
    const users = await sql<{ count: number }>`
      SELECT count(DISTINCT user_id)::int AS count FROM events WHERE user_id LIKE ${`${run}-%`}`.execute(pipeline.db);
    expect(rows[0]).toEqual({ stored: sent, wrong_first_day: 0, users: users.rows[0]?.count });

    // Every user's number made it into the day's bitmap: a user left out of the statement's numbers (a new one,
    // or a known one moved to an earlier day) would be missing from the rollup's count.
    const from = new Date(today - 6 * dayMs).toISOString().slice(0, 10);
    const to = new Date(today).toISOString().slice(0, 10);
    const exact = await sql<{ day: string; users: number }>`
      SELECT to_char((occurred_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, count(DISTINCT user_id)::int AS users
      FROM events WHERE user_id LIKE ${`${run}-%`} GROUP BY 1 ORDER BY 1`.execute(pipeline.db);
    const counted = await dailyActiveUsers(pipeline.db, from, to);
    expect(counted.filter((day) => day.users > 0)).toEqual(exact.rows);
  }, 120_000);
});
