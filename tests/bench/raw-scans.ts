import type { Database } from "@evpipe/db";
import { type Kysely, sql } from "kysely";

/** The days an analytics query covers (`from` to `to`, both included) and the last day whose cohort it follows. */
export interface ReportPeriod {
  from: string;
  to: string;
  cohortTo: string;
}

/** The analytics answered by scanning the events table, as they would be without rollups. */
export function rawScans(db: Kysely<Database>, { from, to, cohortTo }: ReportPeriod) {
  const window = sql`occurred_at >= ${from}::date AT TIME ZONE 'UTC' AND occurred_at < (${to}::date + 1) AT TIME ZONE 'UTC'`;
  return {
    dailyActiveUsers: async () =>
      (
        await sql<{
          day: string;
          users: string;
        }>`SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, count(DISTINCT user_id) AS users
          FROM events WHERE ${window} GROUP BY 1 ORDER BY 1`.execute(db)
      ).rows.map((r) => ({ day: r.day, users: Number(r.users) })),
    topEvents: async () =>
      (
        await sql<{
          event: string;
          count: string;
          users: string;
        }>`SELECT event, count(*) AS count, count(DISTINCT user_id) AS users
          FROM events WHERE ${window} GROUP BY event ORDER BY count DESC, event LIMIT 10`.execute(db)
      ).rows.map((r) => ({ event: r.event, count: Number(r.count), users: Number(r.users) })),
    retention: async () =>
      (
        await sql<{ cohort: string; offset: number; users: string }>`
          WITH first AS (SELECT user_id, min((occurred_at AT TIME ZONE 'UTC')::date) AS first_day FROM events GROUP BY user_id),
          activity AS (SELECT DISTINCT user_id, (occurred_at AT TIME ZONE 'UTC')::date AS day FROM events)
          SELECT f.first_day AS cohort, a.day - f.first_day AS offset, count(*) AS users
          FROM first f JOIN activity a ON a.user_id = f.user_id AND a.day BETWEEN f.first_day AND f.first_day + 7
          WHERE f.first_day BETWEEN ${from}::date AND ${cohortTo}::date GROUP BY 1, 2`.execute(db)
      ).rows,
  };
}

export type RawScans = ReturnType<typeof rawScans>;
