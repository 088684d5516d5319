import { type Kysely, sql } from "kysely";

/**
 * Rollups the consumer maintains in the same statement as the insert (ADR §16), and the index behind
 * "a user's events, newest first".
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX events_user_recent ON events (user_id, occurred_at DESC, id DESC)`.execute(db);
  // One row per (UTC day, user) with activity: distinct users per day, and retention by point lookups.
  // Day first: a day's new rows sit together in the index instead of all over it.
  await db.schema
    .createTable("daily_user_activity")
    .addColumn("day", "date", (col) => col.notNull())
    .addColumn("user_id", "text", (col) => col.notNull())
    .addPrimaryKeyConstraint("daily_user_activity_pkey", ["day", "user_id"])
    .execute();
  await db.schema
    .createTable("daily_active_users")
    .addColumn("day", "date", (col) => col.primaryKey())
    .addColumn("users", "bigint", (col) => col.notNull())
    .execute();
  // One row per (event, UTC day, user): distinct users of an event over any range of days.
  await db.schema
    .createTable("daily_event_users")
    .addColumn("event", "text", (col) => col.notNull())
    .addColumn("day", "date", (col) => col.notNull())
    .addColumn("user_id", "text", (col) => col.notNull())
    .addPrimaryKeyConstraint("daily_event_users_pkey", ["event", "day", "user_id"])
    .execute();
  await db.schema
    .createTable("daily_event_counts")
    .addColumn("day", "date", (col) => col.notNull())
    .addColumn("event", "text", (col) => col.notNull())
    .addColumn("events", "bigint", (col) => col.notNull())
    .addColumn("users", "bigint", (col) => col.notNull())
    .addPrimaryKeyConstraint("daily_event_counts_pkey", ["day", "event"])
    .execute();
  await db.schema
    .createTable("user_first_seen")
    .addColumn("user_id", "text", (col) => col.primaryKey())
    .addColumn("first_day", "date", (col) => col.notNull())
    .execute();
  await db.schema.createIndex("user_first_seen_day").on("user_first_seen").columns(["first_day", "user_id"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    "user_first_seen",
    "daily_event_counts",
    "daily_event_users",
    "daily_active_users",
    "daily_user_activity",
  ]) {
    await db.schema.dropTable(table).execute();
  }
  await sql`DROP INDEX events_user_recent`.execute(db);
}
