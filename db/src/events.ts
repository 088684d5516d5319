import { type EnvelopeEvent, parseRfc3339 } from "@evpipe/shared";
import { type Kysely, sql, type Transaction } from "kysely";
import type { KnownUsers } from "./known-users.ts";
import type { Database } from "./schema.ts";
import { chunkOf, usersBitmap, weekOf } from "./user-bits.ts";

/**
 * The events as rows for an INSERT: one JSON array of one array per event, parsed once by PostgreSQL as jsonb.
 * Ten array parameters cost node-postgres more CPU than the rest of the consumer's write (every element escaped
 * into an array literal, metadata twice), and PostgreSQL more too; json_to_recordset parses metadata twice.
 * Raw numbers (parseJsonText) are written verbatim and kept exactly; absent metadata is null, so NULL.
 */
function columns(events: readonly EnvelopeEvent[]) {
  const rows = events.map((event) => [
    event.id,
    event.event,
    event.user_id,
    event.client_ts ?? event.received_at,
    event.received_at,
    event.metadata ?? null,
    event.request_id,
    event.key_id,
    event.type ?? "track",
    event.anonymous_id ?? null,
  ]);
  // One parameter whatever the number of events, so large batches never reach the parameter limit.
  return sql`SELECT (r->>0)::uuid, r->>1, r->>2, (r->>3)::timestamptz, (r->>4)::timestamptz, nullif(r->5, 'null'),
    r->>6, r->>7, r->>8, r->>9
    FROM jsonb_array_elements(${JSON.stringify(rows)}::jsonb) AS r`;
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
    INSERT INTO events (id, event, user_id, occurred_at, received_at, metadata, request_id, key_id, type, anonymous_id)
    ${columns(events)}
    ON CONFLICT (id) DO NOTHING
    RETURNING id`.execute(db);
  return result.rows.map((row) => row.id);
}

/** The UTC day of a timestamp; never later than PostgreSQL's day for it, which rounds sub-microseconds up. */
function utcDay(timestamp: string): string {
  // Most timestamps are in UTC already (received_at always is): their day is their date.
  if (timestamp.endsWith("Z") || timestamp.endsWith("z")) return timestamp.slice(0, 10);
  return new Date(parseRfc3339(timestamp)).toISOString().slice(0, 10);
}

/**
 * The batch's users as the statement needs them: the numbers of those already known (from memory or one
 * lookup), which of those bring a day earlier than their first-seen day, and which are new. The statement
 * returns the numbers and days it writes.
 */
async function batchUsers(db: Kysely<Database>, events: readonly EnvelopeEvent[], known: KnownUsers) {
  const earliest = new Map<string, string>();
  for (const event of events) {
    const day = utcDay(event.client_ts ?? event.received_at);
    const seen = earliest.get(event.user_id);
    if (seen === undefined || day < seen) earliest.set(event.user_id, day);
  }
  const unknown = [...earliest.keys()].filter((userId) => known.get(userId) === undefined);
  if (unknown.length > 0) {
    // One primary-key probe per user (LIMIT 1 keeps the planner from flattening the lateral): a plain join was
    // planned as a hash join over a scan of all of `users`, ~4 ms a write at 25k users and growing with them.
    const rows = await sql<{ user_id: string; user_no: number; first_day: string }>`
      SELECT u.user_id, u.user_no, u.first_day FROM unnest(${unknown}::text[]) AS wanted (user_id)
      CROSS JOIN LATERAL (SELECT * FROM users WHERE users.user_id = wanted.user_id LIMIT 1) u`.execute(db);
    for (const row of rows.rows) known.remember(row.user_id, { userNo: row.user_no, firstDay: row.first_day });
  }
  const knownIds: string[] = [];
  const numbers: number[] = [];
  const earlier: string[] = [];
  const earlierNumbers: number[] = [];
  const added: string[] = [];
  for (const [userId, day] of earliest) {
    const user = known.get(userId);
    if (!user) {
      added.push(userId);
      continue;
    }
    knownIds.push(userId);
    numbers.push(user.userNo);
    if (day < user.firstDay) {
      earlier.push(userId);
      earlierNumbers.push(user.userNo);
    }
  }
  return { knownIds, numbers, earlier, earlierNumbers, added };
}

/**
 * What the consumer runs: inserts the events and, in the same statement (so the same transaction), updates
 * the rollups from the rows the insert really took (ADR §17). A redelivered or replayed event inserts nothing
 * and so counts nothing. Every rollup insert is ordered by its key, so concurrent writers lock rows in one
 * order. `known` is the writer's memory of `users`; give each long-lived writer its own. Never called inside
 * a caller's transaction: `known` must only learn what is committed.
 */
export async function storeEvents(
  db: Kysely<Database>,
  events: readonly EnvelopeEvent[],
  known: KnownUsers,
): Promise<string[]> {
  const { knownIds, numbers, earlier, earlierNumbers, added } = await batchUsers(db, events, known);
  const result = await sql<{ id: string | null; user_id: string | null; user_no: number; first_day: string }>`
    WITH inserted AS (
      INSERT INTO events (id, event, user_id, occurred_at, received_at, metadata, request_id, key_id, type, anonymous_id)
      ${columns(events)}
      ON CONFLICT (id) DO NOTHING
      RETURNING id, event, user_id, (occurred_at AT TIME ZONE 'UTC')::date AS day
    ),
    event_counts AS (
      INSERT INTO daily_event_counts (day, event, events)
      SELECT day, event, count(*) FROM inserted GROUP BY day, event ORDER BY day, event
      ON CONFLICT (day, event) DO UPDATE SET events = daily_event_counts.events + EXCLUDED.events
    ),
    -- Users the lookup did not find, and known ones this batch saw on an earlier day, in one upsert in key
    -- order: two writers then lock rows of users in one order (an insert pass and an update pass could
    -- deadlock, ADR §44). A known user gives its number, so it never draws one from the sequence; a user
    -- added meanwhile by another writer is updated.
    batch_users AS (
      INSERT INTO users (user_id, user_no, first_day) OVERRIDING SYSTEM VALUE
      SELECT b.user_id, coalesce(k.user_no, nextval(pg_get_serial_sequence('users', 'user_no'))::int), b.first_day
      FROM (SELECT user_id, min(day) AS first_day FROM inserted
          WHERE user_id = ANY(${added}::text[]) OR user_id = ANY(${earlier}::text[]) GROUP BY user_id) AS b
        LEFT JOIN unnest(${earlier}::text[], ${earlierNumbers}::int[]) AS k (user_id, user_no) USING (user_id)
      ORDER BY b.user_id
      ON CONFLICT (user_id) DO UPDATE SET first_day = least(users.first_day, EXCLUDED.first_day)
      RETURNING user_id, user_no, first_day
    ),
    numbers AS (
      SELECT * FROM unnest(${knownIds}::text[], ${numbers}::int[]) AS n (user_id, user_no)
      UNION ALL
      SELECT user_id, user_no FROM batch_users WHERE user_id = ANY(${added}::text[])
    ),
    -- Each (event, day, chunk)'s users of this batch as one bitmap; a day's are the OR of its events'.
    batch_bits AS (
      SELECT i.event, i.day, ${chunkOf(sql`n.user_no`)} AS chunk, ${usersBitmap(sql`n.user_no`)} AS users
      FROM inserted i JOIN numbers n USING (user_id)
      GROUP BY 1, 2, 3
    ),
    event_bits AS (
      INSERT INTO daily_event_user_bits (event, day, chunk, users)
      SELECT event, day, chunk, users FROM batch_bits ORDER BY 1, 2, 3
      ON CONFLICT (event, day, chunk) DO UPDATE SET users = daily_event_user_bits.users | EXCLUDED.users
        WHERE daily_event_user_bits.users | EXCLUDED.users <> daily_event_user_bits.users
    ),
    -- Late events into a compacted week also go into its weekly rows (see compactWeeks).
    week_bits AS (
      INSERT INTO weekly_event_user_bits (event, week, chunk, users)
      SELECT event, week, chunk, bit_or(users)
      FROM (SELECT *, ${weekOf(sql`day`)} AS week FROM batch_bits) AS late
      WHERE week IN (SELECT week FROM compacted_weeks)
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
      ON CONFLICT (event, week, chunk) DO UPDATE SET users = weekly_event_user_bits.users | EXCLUDED.users
        WHERE weekly_event_user_bits.users | EXCLUDED.users <> weekly_event_user_bits.users
    ),
    day_bits AS (
      INSERT INTO daily_user_bits (day, chunk, users)
      SELECT day, chunk, bit_or(users) FROM batch_bits GROUP BY 1, 2 ORDER BY 1, 2
      ON CONFLICT (day, chunk) DO UPDATE SET users = daily_user_bits.users | EXCLUDED.users
        WHERE daily_user_bits.users | EXCLUDED.users <> daily_user_bits.users
    )
    SELECT id::text, NULL AS user_id, NULL::int AS user_no, NULL::date AS first_day FROM inserted
    UNION ALL
    SELECT NULL, user_id, user_no, first_day FROM batch_users`.execute(db);
  const ids: string[] = [];
  for (const row of result.rows) {
    if (row.id !== null) ids.push(row.id);
    else if (row.user_id !== null) known.remember(row.user_id, { userNo: row.user_no, firstDay: row.first_day });
  }
  return ids;
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
