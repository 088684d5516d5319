import { type Kysely, sql } from "kysely";
import type { Database } from "./schema.ts";
import { bitOf, chunkOf } from "./user-bits.ts";

type Db = Kysely<Database>;

/** Every UTC day from `from` to `to` inclusive, as YYYY-MM-DD. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let ms = Date.parse(`${from}T00:00:00Z`); ms <= Date.parse(`${to}T00:00:00Z`); ms += 86_400_000) {
    days.push(new Date(ms).toISOString().slice(0, 10));
  }
  return days;
}

/** The UTC day `days` after a YYYY-MM-DD day. */
function daysAfter(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

export async function dailyActiveUsers(
  db: Db,
  from: string,
  to: string,
): Promise<Array<{ day: string; users: number }>> {
  const rows = await db
    .selectFrom("daily_user_bits")
    .select(["day", sql<string>`sum(bit_count(users))`.as("users")])
    .where("day", ">=", from)
    .where("day", "<=", to)
    .groupBy("day")
    .execute();
  const byDay = new Map(rows.map((row) => [row.day, Number(row.users)]));
  return daysBetween(from, to).map((day) => ({ day, users: byDay.get(day) ?? 0 }));
}

/**
 * Exact distinct users of each event over the days: per chunk of user numbers, the OR of the bitmaps of the
 * compacted weeks inside the range and of the days outside them.
 */
async function usersOfEvents(
  db: Db,
  events: string[],
  range: { weeks: string[]; days: string[] },
): Promise<Map<string, number>> {
  const result = await sql<{ event: string; users: string }>`
    SELECT event, sum(users) AS users FROM (
      SELECT event, bit_count(bit_or(users)) AS users FROM (
        SELECT event, chunk, users FROM weekly_event_user_bits
        WHERE event = ANY(${events}::text[]) AND week = ANY(${range.weeks}::date[])
        UNION ALL
        SELECT event, chunk, users FROM daily_event_user_bits
        WHERE event = ANY(${events}::text[]) AND day = ANY(${range.days}::date[])
      ) AS bitmaps
      GROUP BY event, chunk) AS chunks
    GROUP BY event`.execute(db);
  return new Map(result.rows.map((row) => [row.event, Number(row.users)]));
}

/** The range as the compacted weeks wholly inside it, and the days those weeks leave out. */
async function weeksAndDays(db: Db, from: string, to: string): Promise<{ weeks: string[]; days: string[] }> {
  const weeks = await db
    .selectFrom("compacted_weeks")
    .select("week")
    .where("week", ">=", from)
    .where(sql<string>`week + 6`, "<=", to)
    .execute();
  const covered = new Set(weeks.flatMap(({ week }) => daysBetween(week, daysAfter(week, 6))));
  return { weeks: weeks.map(({ week }) => week), days: daysBetween(from, to).filter((day) => !covered.has(day)) };
}

/**
 * The most frequent events in the range, with exact distinct users: counts come from the per-day counts, and
 * distinct users, for the top events only, from their user bitmaps. One snapshot for all of it, so counts
 * and users describe the same stored events.
 */
export async function topEvents(
  db: Db,
  from: string,
  to: string,
  limit: number,
): Promise<Array<{ event: string; count: number; users: number }>> {
  return db
    .transaction()
    .setIsolationLevel("repeatable read")
    .execute(async (trx) => {
      // Starting parallel workers takes longer than the whole query.
      await sql`SET LOCAL max_parallel_workers_per_gather = 0`.execute(trx);
      const top = await trx
        .selectFrom("daily_event_counts")
        .select(["event", sql<string>`sum(events)`.as("count")])
        .where("day", ">=", from)
        .where("day", "<=", to)
        .groupBy("event")
        .orderBy("count", "desc")
        .orderBy("event")
        .limit(limit)
        .execute();
      const users = await usersOfEvents(
        trx,
        top.map((row) => row.event),
        await weeksAndDays(trx, from, to),
      );
      return top.map((row) => ({ event: row.event, count: Number(row.count), users: users.get(row.event) ?? 0 }));
    });
}

export interface Cohort {
  cohort: string;
  users: number;
  /** retained[k]: how many of the cohort were active k days after their first day (retained[0] = users). */
  retained: number[];
}

/** Users grouped by the UTC day they were first seen, and how many of them were active on each following day. */
export async function retention(db: Db, from: string, to: string, days: number): Promise<Cohort[]> {
  // Each cohort member's bit, looked up in the day bitmaps of the days after its first day.
  const result = await sql<{ cohort: string; offset: number; users: string }>`
    SELECT u.first_day AS cohort, k AS offset, count(*) AS users
    FROM users u
    CROSS JOIN generate_series(0, ${days}::int) AS k
    JOIN daily_user_bits b ON b.day = u.first_day + k AND b.chunk = ${chunkOf(sql`u.user_no`)}
    WHERE u.first_day BETWEEN ${from}::date AND ${to}::date AND get_bit(b.users, ${bitOf(sql`u.user_no`)}) = 1
    GROUP BY 1, 2`.execute(db);
  const counts = new Map<string, number[]>();
  for (const row of result.rows) {
    const retained = counts.get(row.cohort) ?? new Array<number>(days + 1).fill(0);
    retained[row.offset] = Number(row.users);
    counts.set(row.cohort, retained);
  }
  return daysBetween(from, to).map((cohort) => {
    const retained = counts.get(cohort) ?? new Array<number>(days + 1).fill(0);
    return { cohort, users: retained[0] ?? 0, retained };
  });
}

export async function eventById(db: Db, id: string) {
  return db.selectFrom("events").selectAll().where("id", "=", id).executeTakeFirst();
}

/** A user's events, newest first, after the (occurred_at, id) of the cursor when given. */
export async function eventsOfUser(db: Db, userId: string, limit: number, after?: { occurredAt: string; id: string }) {
  let query = db
    .selectFrom("events")
    .selectAll()
    // Full microsecond precision for the cursor; the Date in occurred_at keeps milliseconds only.
    .select(sql<string>`to_json(occurred_at) #>> '{}'`.as("occurred_at_exact"))
    .where("user_id", "=", userId)
    .orderBy("occurred_at", "desc")
    .orderBy("id", "desc")
    .limit(limit);
  if (after) {
    query = query.where((eb) =>
      eb(
        eb.refTuple("occurred_at", "id"),
        "<",
        eb.tuple(sql<Date>`${after.occurredAt}::timestamptz`, sql<string>`${after.id}::uuid`),
      ),
    );
  }
  return query.execute();
}
