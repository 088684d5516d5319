import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("events")
    .addColumn("id", "uuid", (col) => col.primaryKey())
    .addColumn("event", "text", (col) => col.notNull())
    .addColumn("user_id", "text", (col) => col.notNull())
    .addColumn("occurred_at", "timestamptz", (col) => col.notNull())
    .addColumn("received_at", "timestamptz", (col) => col.notNull())
    .addColumn("stored_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("metadata", "jsonb")
    .addColumn("request_id", "text", (col) => col.notNull())
    .addColumn("key_id", "text", (col) => col.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("events").execute();
}
