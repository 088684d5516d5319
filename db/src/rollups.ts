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

function daysIn(range: DayRange | undefined) {
  return range ? sql`day BETWEEN ${range.from}::date AND ${range.to}::date` : sql`true`;
}

/**
 * Recomputes the rollups from `events` (all days, or a range), in one transaction that blocks the consumer's
 * rollup writes meanwhile, so nothing is counted twice or missed.
 */
export async function rebuildRollups(db: Kysely<Database>, range?: DayRange): Promise<void> {
  await db.transaction().execute(async (trx: Transaction<Database>) => {
    await sql`LOCK TABLE daily_user_activity, daily_active_users, daily_event_users, daily_event_counts, user_first_seen
      IN SHARE ROW EXCLUSIVE MODE`.execute(trx);
    await sql`DELETE FROM daily_user_activity WHERE ${daysIn(range)}`.execute(trx);
    await sql`INSERT INTO daily_user_activity (day, user_id)
      SELECT DISTINCT ${dayOf}, user_id FROM events WHERE ${eventsIn(range)}`.execute(trx);
    await sql`DELETE FROM daily_active_users WHERE ${daysIn(range)}`.execute(trx);
    await sql`INSERT INTO daily_active_users (day, users)
      SELECT day, count(*) FROM daily_user_activity WHERE ${daysIn(range)} GROUP BY day`.execute(trx);
    await sql`DELETE FROM daily_event_users WHERE ${daysIn(range)}`.execute(trx);
    await sql`INSERT INTO daily_event_users (event, day, user_id)
      SELECT DISTINCT event, ${dayOf}, user_id FROM events WHERE ${eventsIn(range)}`.execute(trx);
    await sql`DELETE FROM daily_event_counts WHERE ${daysIn(range)}`.execute(trx);
    await sql`INSERT INTO daily_event_counts (day, event, events, users)
      SELECT ${dayOf}, event, count(*), count(DISTINCT user_id) FROM events WHERE ${eventsIn(range)} GROUP BY 1, 2`.execute(
      trx,
    );
    // First-seen days are global: recompute them for every user with an event in the range.
    if (range) {
      await sql`INSERT INTO user_first_seen (user_id, first_day)
        SELECT user_id, min(${dayOf}) FROM events
        WHERE user_id IN (SELECT user_id FROM events WHERE ${eventsIn(range)})
        GROUP BY user_id
        ON CONFLICT (user_id) DO UPDATE SET first_day = EXCLUDED.first_day`.execute(trx);
    } else {
      await sql`DELETE FROM user_first_seen`.execute(trx);
      await sql`INSERT INTO user_first_seen (user_id, first_day)
        SELECT user_id, min(${dayOf}) FROM events GROUP BY user_id`.execute(trx);
    }
  });
}

export interface RollupMismatch {
  rollup: string;
  key: string;
  stored: string | null;
  recounted: string | null;
}

/** Compares each rollup with a raw recount of `events`; an empty list means they agree. */
export async function verifyRollups(db: Kysely<Database>, range?: DayRange, limit = 100): Promise<RollupMismatch[]> {
  const checks = [
    sql<RollupMismatch>`
      SELECT 'daily_active_users' AS rollup, day::text AS key, r.users::text AS stored, raw.users::text AS recounted
      FROM (SELECT day, users FROM daily_active_users WHERE ${daysIn(range)}) r
      FULL JOIN (SELECT ${dayOf} AS day, count(DISTINCT user_id) AS users FROM events WHERE ${eventsIn(range)} GROUP BY 1) raw
      USING (day) WHERE r.users IS DISTINCT FROM raw.users`,
    sql<RollupMismatch>`
      SELECT 'daily_event_counts' AS rollup, day::text || ' ' || event AS key,
        r.events::text || '/' || r.users::text AS stored, raw.events::text || '/' || raw.users::text AS recounted
      FROM (SELECT day, event, events, users FROM daily_event_counts WHERE ${daysIn(range)}) r
      FULL JOIN (SELECT ${dayOf} AS day, event, count(*) AS events, count(DISTINCT user_id) AS users
                 FROM events WHERE ${eventsIn(range)} GROUP BY 1, 2) raw
      USING (day, event) WHERE (r.events, r.users) IS DISTINCT FROM (raw.events, raw.users)`,
    sql<RollupMismatch>`
      SELECT 'daily_user_activity' AS rollup, day::text || ' ' || user_id AS key,
        CASE WHEN r.user_id IS NULL THEN NULL ELSE 'present' END AS stored,
        CASE WHEN raw.user_id IS NULL THEN NULL ELSE 'present' END AS recounted
      FROM (SELECT user_id, day FROM daily_user_activity WHERE ${daysIn(range)}) r
      FULL JOIN (SELECT DISTINCT user_id, ${dayOf} AS day FROM events WHERE ${eventsIn(range)}) raw USING (user_id, day)
      WHERE r.user_id IS NULL OR raw.user_id IS NULL`,
    sql<RollupMismatch>`
      SELECT 'daily_event_users' AS rollup, day::text || ' ' || event || ' ' || user_id AS key,
        CASE WHEN r.user_id IS NULL THEN NULL ELSE 'present' END AS stored,
        CASE WHEN raw.user_id IS NULL THEN NULL ELSE 'present' END AS recounted
      FROM (SELECT event, day, user_id FROM daily_event_users WHERE ${daysIn(range)}) r
      FULL JOIN (SELECT DISTINCT event, ${dayOf} AS day, user_id FROM events WHERE ${eventsIn(range)}) raw
      USING (event, day, user_id) WHERE r.user_id IS NULL OR raw.user_id IS NULL`,
    sql<RollupMismatch>`
      SELECT 'user_first_seen' AS rollup, user_id AS key, r.first_day::text AS stored, raw.first_day::text AS recounted
      FROM user_first_seen r
      FULL JOIN (SELECT user_id, min(${dayOf}) AS first_day FROM events GROUP BY user_id) raw USING (user_id)
      WHERE r.first_day IS DISTINCT FROM raw.first_day`,
  ];
  const mismatches: RollupMismatch[] = [];
  for (const check of checks) {
    const result = await sql<RollupMismatch>`${check} LIMIT ${limit}`.execute(db);
    mismatches.push(...result.rows);
  }
  return mismatches;
}
