import type { EnvelopeEvent } from "@evpipe/shared";
import { type Kysely, sql, type Transaction } from "kysely";
import type { Database } from "./schema.ts";

/**
 * Stores events with one statement, whatever their number: `unnest` of one array per column keeps the
 * parameter count at eight and the plan cacheable. Returns the ids that were really inserted; an id that
 * was already stored is skipped, which makes redelivery and replay harmless.
 */
export async function insertEvents(
  db: Kysely<Database> | Transaction<Database>,
  events: readonly EnvelopeEvent[],
): Promise<string[]> {
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
  const result = await sql<{ id: string }>`
    INSERT INTO events (id, event, user_id, occurred_at, received_at, metadata, request_id, key_id)
    SELECT * FROM unnest(
      ${ids}::uuid[], ${names}::text[], ${userIds}::text[], ${occurredAt}::timestamptz[],
      ${receivedAt}::timestamptz[], ${metadata}::jsonb[], ${requestIds}::text[], ${keyIds}::text[]
    )
    ON CONFLICT (id) DO NOTHING
    RETURNING id`.execute(db);
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
