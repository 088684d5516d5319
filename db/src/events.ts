import type { EnvelopeEvent } from "@evpipe/shared";
import { type Kysely, sql, type Transaction } from "kysely";
import type { Database } from "./schema.ts";

function columns(events: readonly EnvelopeEvent[]) {
  const ids: string[] = [];
  const names: string[] = [];
  const userIds: string[] = [];
  const occurredAt: string[] = [];
  const receivedAt: string[] = [];
  const metadata: Array<string | null> = [];
  const requestIds: string[] = [];
  const keyIds: string[] = [];
  for (const event of events) {
    ids.push(event.id);
    names.push(event.event);
    userIds.push(event.user_id);
    occurredAt.push(event.client_ts ?? event.received_at);
    receivedAt.push(event.received_at);
    metadata.push(event.metadata === undefined ? null : JSON.stringify(event.metadata));
    requestIds.push(event.request_id);
    keyIds.push(event.key_id);
  }
  // `unnest` of one array per column keeps the statement at eight parameters whatever the number of events,
  // so the plan is reused and large batches never reach the parameter limit.
  return sql`SELECT * FROM unnest(
    ${ids}::uuid[], ${names}::text[], ${userIds}::text[], ${occurredAt}::timestamptz[],
    ${receivedAt}::timestamptz[], ${metadata}::jsonb[], ${requestIds}::text[], ${keyIds}::text[]
  )`;
}

/**
 * Inserts events with one statement, skipping ids already stored; returns the ids really inserted. Without
 * rollups: the raw rate the benchmark compares against.
 */
export async function insertEvents(
  db: Kysely<Database> | Transaction<Database>,
  events: readonly EnvelopeEvent[],
): Promise<string[]> {
  const result = await sql<{ id: string }>`
    INSERT INTO events (id, event, user_id, occurred_at, received_at, metadata, request_id, key_id)
    ${columns(events)}
    ON CONFLICT (id) DO NOTHING
    RETURNING id`.execute(db);
  return result.rows.map((row) => row.id);
}

/**
 * What the consumer runs: inserts the events and, in the same statement (so the same transaction), updates
 * the rollups from the rows the insert really took. A redelivered or replayed event inserts nothing and so
 * counts nothing. Every rollup insert is ordered by its key, so concurrent writers lock rows in one order.
 */
export async function storeEvents(
  db: Kysely<Database> | Transaction<Database>,
  events: readonly EnvelopeEvent[],
): Promise<string[]> {
  const result = await sql<{ id: string }>`
    WITH inserted AS (
      INSERT INTO events (id, event, user_id, occurred_at, received_at, metadata, request_id, key_id)
      ${columns(events)}
      ON CONFLICT (id) DO NOTHING
      RETURNING id, event, user_id, (occurred_at AT TIME ZONE 'UTC')::date AS day
    ),
    new_activity AS (
      INSERT INTO daily_user_activity (day, user_id)
      SELECT DISTINCT day, user_id FROM inserted ORDER BY day, user_id
      ON CONFLICT DO NOTHING
      RETURNING day, user_id
    ),
    active_users AS (
      INSERT INTO daily_active_users (day, users)
      SELECT day, count(*) FROM new_activity GROUP BY day ORDER BY day
      ON CONFLICT (day) DO UPDATE SET users = daily_active_users.users + EXCLUDED.users
    ),
    new_event_users AS (
      INSERT INTO daily_event_users (event, day, user_id)
      SELECT DISTINCT event, day, user_id FROM inserted ORDER BY event, day, user_id
      ON CONFLICT DO NOTHING
      RETURNING event, day
    ),
    event_counts AS (
      INSERT INTO daily_event_counts (day, event, events, users)
      SELECT counted.day, counted.event, counted.n, coalesce(newcomers.n, 0)
      FROM (SELECT day, event, count(*) AS n FROM inserted GROUP BY day, event) AS counted
      LEFT JOIN (SELECT day, event, count(*) AS n FROM new_event_users GROUP BY day, event) AS newcomers
        USING (day, event)
      ORDER BY counted.day, counted.event
      ON CONFLICT (day, event) DO UPDATE SET
        events = daily_event_counts.events + EXCLUDED.events,
        users = daily_event_counts.users + EXCLUDED.users
    ),
    -- A first-seen day can only move when a user is active on a day new for them.
    first_seen AS (
      INSERT INTO user_first_seen (user_id, first_day)
      SELECT user_id, min(day) FROM new_activity GROUP BY user_id ORDER BY user_id
      ON CONFLICT (user_id) DO UPDATE SET first_day = EXCLUDED.first_day
        WHERE EXCLUDED.first_day < user_first_seen.first_day
    )
    SELECT id FROM inserted`.execute(db);
  return result.rows.map((row) => row.id);
}

/** Which of these ids are already stored; used on redelivery so healthy events are not written again. */
export async function storedIds(
  db: Kysely<Database> | Transaction<Database>,
  ids: readonly string[],
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const result = await sql<{ id: string }>`SELECT id FROM events WHERE id = ANY(${ids}::uuid[])`.execute(db);
  return new Set(result.rows.map((row) => row.id));
}
