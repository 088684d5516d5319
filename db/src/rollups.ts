import { type Kysely, sql, type Transaction } from "kysely";
import type { Database } from "./schema.ts";

export interface DayRange {
  from: string;
  to: string;
}

const dayOf = sql`(occurred_at AT TIME ZONE 'UTC')::date`;

function eventsIn(range: DayRange | undefined) {
  return range
    ? sql`occurred_at >= ${range.from}::date AT TIME ZONE 'UTC' AND occurred_at < (${range.to}::date + 1) AT TIME ZONE 'UTC'`
    : sql`true`;
}

/** Users with an event in the range: whose first-seen day a range can tell. */
function usersOf(range: DayRange | undefined) {
  return range ? sql`user_id IN (SELECT user_id FROM events WHERE ${eventsIn(range)})` : sql`true`;
}

function daysIn(range: DayRange | undefined) {
  return range ? sql`day BETWEEN ${range.from}::date AND ${range.to}::date` : sql`true`;
}

/** The bitmaps of one grouping of `events` in the range, one row per chunk of 8192 user numbers. */
function userBits(grouping: "day" | "event, day", range: DayRange | undefined) {
  return sql`
    SELECT ${sql.raw(grouping)}, u.user_no >> 13 AS chunk, bit_or(set_bit(B'0'::bit(8192), u.user_no & 8191, 1)) AS users
    FROM (SELECT DISTINCT ${sql.raw(grouping === "day" ? "" : "event, ")}${dayOf} AS day, user_id FROM events WHERE ${eventsIn(range)}) a
    JOIN users u USING (user_id)
    GROUP BY ${sql.raw(grouping)}, chunk`;
}

/**
 * Recomputes the rollups from `events` (all days, or a range), in one transaction that blocks the consumer's
 * rollup writes meanwhile, so nothing is counted twice or missed. User numbers are kept: a user's number
 * never changes (ADR §17). Returns how many first-seen days it had to move later, which only a wrong rollup
 * causes; running consumers remember first-seen days, so restart them after such a repair.
 */
export async function rebuildRollups(db: Kysely<Database>, range?: DayRange): Promise<{ movedLater: number }> {
  return db.transaction().execute(async (trx: Transaction<Database>) => {
    await sql`LOCK TABLE users, daily_user_bits, daily_event_user_bits, daily_event_counts
      IN SHARE ROW EXCLUSIVE MODE`.execute(trx);
    // First-seen days are global: recompute them for every user with an event in the range.
    const moved = await sql<{ later: boolean }>`
      UPDATE users u SET first_day = f.first_day
      FROM (SELECT user_id, min(${dayOf}) AS first_day FROM events WHERE ${usersOf(range)} GROUP BY user_id) f,
        users AS before
      WHERE u.user_id = f.user_id AND before.user_id = u.user_id AND u.first_day <> f.first_day
      RETURNING f.first_day > before.first_day AS later`.execute(trx);
    await sql`INSERT INTO users (user_id, first_day)
      SELECT user_id, min(${dayOf}) FROM events e
      WHERE ${usersOf(range)} AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = e.user_id)
      GROUP BY user_id ORDER BY 2, 1`.execute(trx);
    await sql`DELETE FROM daily_user_bits WHERE ${daysIn(range)}`.execute(trx);
    await sql`INSERT INTO daily_user_bits (day, chunk, users) ${userBits("day", range)}`.execute(trx);
    await sql`DELETE FROM daily_event_user_bits WHERE ${daysIn(range)}`.execute(trx);
    await sql`INSERT INTO daily_event_user_bits (event, day, chunk, users) ${userBits("event, day", range)}`.execute(
      trx,
    );
    await sql`DELETE FROM daily_event_counts WHERE ${daysIn(range)}`.execute(trx);
    await sql`INSERT INTO daily_event_counts (day, event, events)
      SELECT ${dayOf}, event, count(*) FROM events WHERE ${eventsIn(range)} GROUP BY 1, 2`.execute(trx);
    return { movedLater: moved.rows.filter((row) => row.later).length };
  });
}

export interface RollupMismatch {
  rollup: string;
  key: string;
  stored: string | null;
  recounted: string | null;
}

/** Stored bitmaps against bitmaps recounted from `events`, compared per day (and event) over all chunks. */
function bitsCheck(table: "daily_user_bits" | "daily_event_user_bits", range: DayRange | undefined) {
  const grouping = table === "daily_user_bits" ? "day" : "event, day";
  const key = table === "daily_user_bits" ? sql`day::text` : sql`day::text || ' ' || event`;
  const zero = sql`B'0'::bit(8192)`;
  return sql<RollupMismatch>`
    SELECT ${table} AS rollup, ${key} AS key,
      sum(coalesce(bit_count(r.users), 0))::text AS stored,
      sum(coalesce(bit_count(raw.users), 0))::text || ' ('
        || sum(bit_count(coalesce(r.users, ${zero}) # coalesce(raw.users, ${zero})))::text || ' differ)' AS recounted
    FROM (SELECT ${sql.raw(grouping)}, chunk, users FROM ${sql.table(table)} WHERE ${daysIn(range)}) r
    FULL JOIN (${userBits(grouping, range)}) raw USING (${sql.raw(grouping)}, chunk)
    GROUP BY ${sql.raw(grouping)}
    HAVING bool_or(r.users IS DISTINCT FROM raw.users)`;
}

/** Compares each rollup with a raw recount of `events`; an empty list means they agree. */
export async function verifyRollups(db: Kysely<Database>, range?: DayRange, limit = 100): Promise<RollupMismatch[]> {
  const checks = [
    bitsCheck("daily_user_bits", range),
    bitsCheck("daily_event_user_bits", range),
    sql<RollupMismatch>`
      SELECT 'daily_event_counts' AS rollup, day::text || ' ' || event AS key,
        r.events::text AS stored, raw.events::text AS recounted
      FROM (SELECT day, event, events FROM daily_event_counts WHERE ${daysIn(range)}) r
      FULL JOIN (SELECT ${dayOf} AS day, event, count(*) AS events FROM events WHERE ${eventsIn(range)} GROUP BY 1, 2) raw
      USING (day, event) WHERE r.events IS DISTINCT FROM raw.events`,
    sql<RollupMismatch>`
      SELECT 'users' AS rollup, raw.user_id AS key, u.first_day::text AS stored, raw.first_day::text AS recounted
      FROM (SELECT user_id, min(${dayOf}) AS first_day FROM events WHERE ${usersOf(range)} GROUP BY user_id) raw
      LEFT JOIN users u USING (user_id)
      WHERE u.first_day IS DISTINCT FROM raw.first_day`,
  ];
  const mismatches: RollupMismatch[] = [];
  for (const check of checks) {
    const result = await sql<RollupMismatch>`${check} LIMIT ${limit}`.execute(db);
    mismatches.push(...result.rows);
  }
  return mismatches;
}
