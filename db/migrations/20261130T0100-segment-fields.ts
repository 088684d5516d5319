import { type Kysely, sql } from "kysely";

/**
 * Events from the Segment-compatible routes (ADR §30) keep their call type and the user's anonymous id where
 * analysts can filter on them. Every event before these routes was a `track`; a constant default adds the
 * column without rewriting or scanning the table. Most events carry no anonymous id, so its index holds only
 * those that do; building it reads the table once while writes wait (ADR §30 says how long).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("events")
    .addColumn("type", "text", (col) =>
      col.notNull().defaultTo("track").check(sql`type IN ('track', 'identify', 'page', 'screen', 'group', 'alias')`),
    )
    .addColumn("anonymous_id", "text")
    .execute();
  await db.schema
    .createIndex("events_anonymous_id")
    .on("events")
    .column("anonymous_id")
    .where(sql.ref("anonymous_id"), "is not", null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("events_anonymous_id").execute();
  await db.schema.alterTable("events").dropColumn("type").dropColumn("anonymous_id").execute();
}
