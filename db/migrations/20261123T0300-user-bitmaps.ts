import { type Kysely, sql } from "kysely";

/**
 * Replaces the per-user set tables of 20261123T0200 with user bitmaps (ADR §17): every user gets a dense
 * number, and each (day) and (event, day) keeps the set of its users as bitmaps of 8192 users per row, so
 * distinct users over a range is an OR of one row per day and chunk. Existing rollups are carried over.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("users")
    .addColumn("user_id", "text", (col) => col.primaryKey())
    .addColumn("user_no", "integer", (col) => col.notNull().unique().generatedAlwaysAsIdentity())
    .addColumn("first_day", "date", (col) => col.notNull())
    .execute();
  await db.schema.createIndex("users_first_day").on("users").columns(["first_day", "user_no"]).execute();
  // Rows are rewritten in place all day long: free space on each page keeps those updates HOT.
  await db.schema
    .createTable("daily_user_bits")
    .addColumn("day", "date", (col) => col.notNull())
    .addColumn("chunk", "integer", (col) => col.notNull())
    .addColumn("users", sql`bit(8192)`, (col) => col.notNull())
    .addPrimaryKeyConstraint("daily_user_bits_pkey", ["day", "chunk"])
    .modifyEnd(sql`WITH (fillfactor = 50)`)
    .execute();
  await db.schema
    .createTable("daily_event_user_bits")
    .addColumn("event", "text", (col) => col.notNull())
    .addColumn("day", "date", (col) => col.notNull())
    .addColumn("chunk", "integer", (col) => col.notNull())
    .addColumn("users", sql`bit(8192)`, (col) => col.notNull())
    .addPrimaryKeyConstraint("daily_event_user_bits_pkey", ["event", "day", "chunk"])
    .modifyEnd(sql`WITH (fillfactor = 50)`)
    .execute();

  // Whole weeks of an event's bitmaps OR-ed together, for the weeks listed in compacted_weeks (ADR §17).
  await db.schema
    .createTable("weekly_event_user_bits")
    .addColumn("event", "text", (col) => col.notNull())
    .addColumn("week", "date", (col) => col.notNull())
    .addColumn("chunk", "integer", (col) => col.notNull())
    .addColumn("users", sql`bit(8192)`, (col) => col.notNull())
    .addPrimaryKeyConstraint("weekly_event_user_bits_pkey", ["event", "week", "chunk"])
    .execute();
  await db.schema
    .createTable("compacted_weeks")
    .addColumn("week", "date", (col) => col.primaryKey())
    .addColumn("compacted_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  // Every user any old rollup knows, so none of their activity is lost on the way.
  await sql`INSERT INTO users (user_id, first_day)
    SELECT user_id, min(first_day) FROM (
      SELECT user_id, first_day FROM user_first_seen
      UNION ALL SELECT user_id, day FROM daily_user_activity
      UNION ALL SELECT user_id, day FROM daily_event_users) AS seen
    GROUP BY user_id ORDER BY 2, 1`.execute(db);
  await sql`INSERT INTO daily_user_bits (day, chunk, users)
    SELECT a.day, u.user_no >> 13, bit_or(set_bit(B'0'::bit(8192), u.user_no & 8191, 1))
    FROM daily_user_activity a JOIN users u USING (user_id) GROUP BY 1, 2`.execute(db);
  await sql`INSERT INTO daily_event_user_bits (event, day, chunk, users)
    SELECT a.event, a.day, u.user_no >> 13, bit_or(set_bit(B'0'::bit(8192), u.user_no & 8191, 1))
    FROM daily_event_users a JOIN users u USING (user_id) GROUP BY 1, 2, 3`.execute(db);

  for (const table of ["user_first_seen", "daily_event_users", "daily_active_users", "daily_user_activity"]) {
    await db.schema.dropTable(table).execute();
  }
  await db.schema.alterTable("daily_event_counts").dropColumn("users").execute();
}

/** Back to the set tables, recounted from `events`. */
export async function down(db: Kysely<unknown>): Promise<void> {
  const day = sql`(occurred_at AT TIME ZONE 'UTC')::date`;
  await sql`CREATE TABLE daily_user_activity (day date NOT NULL, user_id text NOT NULL,
    CONSTRAINT daily_user_activity_pkey PRIMARY KEY (day, user_id))`.execute(db);
  await sql`INSERT INTO daily_user_activity SELECT DISTINCT ${day}, user_id FROM events`.execute(db);
  await sql`CREATE TABLE daily_active_users (day date PRIMARY KEY, users bigint NOT NULL)`.execute(db);
  await sql`INSERT INTO daily_active_users SELECT day, count(*) FROM daily_user_activity GROUP BY day`.execute(db);
  await sql`CREATE TABLE daily_event_users (event text NOT NULL, day date NOT NULL, user_id text NOT NULL,
    CONSTRAINT daily_event_users_pkey PRIMARY KEY (event, day, user_id))`.execute(db);
  await sql`INSERT INTO daily_event_users SELECT DISTINCT event, ${day}, user_id FROM events`.execute(db);
  await sql`ALTER TABLE daily_event_counts ADD COLUMN users bigint NOT NULL DEFAULT 0`.execute(db);
  await sql`UPDATE daily_event_counts c SET users = n.users
    FROM (SELECT event, day, count(*) AS users FROM daily_event_users GROUP BY 1, 2) n
    WHERE (c.event, c.day) = (n.event, n.day)`.execute(db);
  await sql`ALTER TABLE daily_event_counts ALTER COLUMN users DROP DEFAULT`.execute(db);
  await sql`CREATE TABLE user_first_seen (user_id text PRIMARY KEY, first_day date NOT NULL)`.execute(db);
  await sql`INSERT INTO user_first_seen SELECT user_id, first_day FROM users`.execute(db);
  await sql`CREATE INDEX user_first_seen_day ON user_first_seen (first_day, user_id)`.execute(db);
  for (const table of [
    "compacted_weeks",
    "weekly_event_user_bits",
    "daily_event_user_bits",
    "daily_user_bits",
    "users",
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
