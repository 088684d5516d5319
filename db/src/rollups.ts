import { type Kysely, sql, type Transaction } from "kysely";
import type { Database } from "./schema.ts";
import { chunkOf, noUsers, usersBitmap, weekOf } from "./user-bits.ts";

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

/** Compacted weeks that overlap the range. */
function compactedWeeks(range: DayRange | undefined) {
  return sql`SELECT week FROM compacted_weeks
    WHERE ${range ? sql`week <= ${range.to}::date AND week + 6 >= ${range.from}::date` : sql`true`}`;
}

/** Each kind of user bitmap: its table, what a row is per, and that key's value for an event. */
const bitmaps = {
  daily_user_bits: { keys: "day", key: sql`day::text`, ofEvent: sql`${dayOf} AS day` },
  daily_event_user_bits: {
    keys: "event, day",
    key: sql`day::text || ' ' || event`,
    ofEvent: sql`event, ${dayOf} AS day`,
  },
  weekly_event_user_bits: {
    keys: "event, week",
    key: sql`week::text || ' ' || event`,
    ofEvent: sql`event, ${weekOf(dayOf)} AS week`,
  },
} as const;
type Bitmaps = keyof typeof bitmaps;

/** Which rows of a bitmap table a range covers: its days, or for weekly rows the compacted weeks it overlaps. */
function rowsIn(table: Bitmaps, range: DayRange | undefined) {
  return table === "weekly_event_user_bits" ? sql`week IN (${compactedWeeks(range)})` : daysIn(range);
}

/** The bitmaps of a table recounted from `events`, one row per key and chunk of user numbers. */
function recountedBits(table: Bitmaps, range: DayRange | undefined) {
  const { keys, ofEvent } = bitmaps[table];
  // Weekly rows cover whole weeks, so their events may lie outside the range itself.
  const events =
    table === "weekly_event_user_bits" ? sql`${weekOf(dayOf)} IN (${compactedWeeks(range)})` : eventsIn(range);
  return sql`
    SELECT ${sql.raw(keys)}, ${chunkOf(sql`u.user_no`)} AS chunk, ${usersBitmap(sql`u.user_no`)} AS users
    FROM (SELECT DISTINCT ${ofEvent}, user_id FROM events WHERE ${events}) a
    JOIN users u USING (user_id)
    GROUP BY ${sql.raw(keys)}, chunk`;
}

/**
 * Recomputes the rollups from `events` (all days, or a range), in one transaction that blocks the consumer's
 * rollup writes meanwhile, so nothing is counted twice or missed. User numbers are kept: a user's number
 * never changes (ADR §17). Returns how many first-seen days it had to move later, which only a wrong rollup
 * causes; running consumers remember first-seen days, so restart them after such a repair.
 */
export async function rebuildRollups(db: Kysely<Database>, range?: DayRange): Promise<{ movedLater: number }> {
  return db.transaction().execute(async (trx: Transaction<Database>) => {
    // In the order storeEvents's statement takes them, or a rebuild could deadlock with a consumer's write.
    await sql`LOCK TABLE daily_event_counts, users, daily_event_user_bits, weekly_event_user_bits, compacted_weeks,
      daily_user_bits IN SHARE ROW EXCLUSIVE MODE`.execute(trx);
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
    for (const table of ["daily_user_bits", "daily_event_user_bits", "weekly_event_user_bits"] as const) {
      await sql`DELETE FROM ${sql.table(table)} WHERE ${rowsIn(table, range)}`.execute(trx);
      await sql`INSERT INTO ${sql.table(table)} (${sql.raw(bitmaps[table].keys)}, chunk, users)
        ${recountedBits(table, range)}`.execute(trx);
    }
    await sql`DELETE FROM daily_event_counts WHERE ${daysIn(range)}`.execute(trx);
    await sql`INSERT INTO daily_event_counts (day, event, events)
      SELECT ${dayOf}, event, count(*) FROM events WHERE ${eventsIn(range)} GROUP BY 1, 2`.execute(trx);
    return { movedLater: moved.rows.filter((row) => row.later).length };
  });
}

/**
 * ORs each past week's daily event bitmaps into weekly rows, so a range over whole weeks reads one row per
 * week instead of seven (ADR §17). A week is compacted once, after it has ended in UTC; a late event into it
 * later updates its weekly rows too (storeEvents). Safe beside running consumers and other compactors.
 * Returns the weeks compacted.
 */
export async function compactWeeks(db: Kysely<Database>): Promise<string[]> {
  const compacted: string[] = [];
  for (;;) {
    const next = await db.transaction().execute(async (trx: Transaction<Database>) => {
      const candidate = await sql<{ week: string }>`
        SELECT ${weekOf(sql`day`)} AS week FROM daily_user_bits
        WHERE day < ${weekOf(sql`now() AT TIME ZONE 'UTC'`)}
        EXCEPT SELECT week FROM compacted_weeks
        ORDER BY week LIMIT 1`.execute(trx);
      const week = candidate.rows[0]?.week;
      if (week === undefined) return undefined;
      // Waits for the writes under way and holds new ones back until this commits: each consumer write
      // either was committed first and is read here, or sees the week compacted and writes its weekly rows.
      await sql`LOCK TABLE daily_event_user_bits IN SHARE MODE`.execute(trx);
      const claimed = await sql`INSERT INTO compacted_weeks (week) VALUES (${week}) ON CONFLICT DO NOTHING`.execute(
        trx,
      );
      // Another compactor got there first.
      if (claimed.numAffectedRows === 0n) return { week, ours: false };
      // The week's events first, so the bitmaps are read by primary key rather than by scanning them all.
      await sql`INSERT INTO weekly_event_user_bits (event, week, chunk, users)
        SELECT event, ${week}::date, chunk, bit_or(users) FROM daily_event_user_bits
        WHERE event IN (SELECT event FROM daily_event_counts WHERE day >= ${week}::date AND day < ${week}::date + 7)
          AND day >= ${week}::date AND day < ${week}::date + 7
        GROUP BY event, chunk
        ON CONFLICT (event, week, chunk) DO UPDATE SET users = EXCLUDED.users`.execute(trx);
      return { week, ours: true };
    });
    if (next === undefined) return compacted;
    if (next.ours) compacted.push(next.week);
  }
}

export interface RollupMismatch {
  rollup: string;
  key: string;
  stored: string | null;
  recounted: string | null;
}

/** Stored bitmaps against bitmaps recounted from `events`, compared per key over all chunks. */
function bitsCheck(table: Bitmaps, range: DayRange | undefined) {
  const { keys, key } = bitmaps[table];
  return sql<RollupMismatch>`
    SELECT ${table} AS rollup, ${key} AS key,
      sum(coalesce(bit_count(r.users), 0))::text AS stored,
      sum(coalesce(bit_count(raw.users), 0))::text || ' ('
        || sum(bit_count(coalesce(r.users, ${noUsers}) # coalesce(raw.users, ${noUsers})))::text || ' differ)' AS recounted
    FROM (SELECT ${sql.raw(keys)}, chunk, users FROM ${sql.table(table)} WHERE ${rowsIn(table, range)}) r
    FULL JOIN (${recountedBits(table, range)}) raw USING (${sql.raw(keys)}, chunk)
    GROUP BY ${sql.raw(keys)}
    HAVING bool_or(r.users IS DISTINCT FROM raw.users)`;
}

/** Compares each rollup with a raw recount of `events`; an empty list means they agree. */
export async function verifyRollups(db: Kysely<Database>, range?: DayRange, limit = 100): Promise<RollupMismatch[]> {
  const checks = [
    bitsCheck("daily_user_bits", range),
    bitsCheck("daily_event_user_bits", range),
    bitsCheck("weekly_event_user_bits", range),
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
