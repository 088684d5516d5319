import type { Database } from "@evpipe/db";
import { type Kysely, sql } from "kysely";

/**
 * A trigger that makes the insert of any event whose user_id starts with `poison-<SQLSTATE>-` fail with that
 * SQLSTATE, so a test can choose which events of a batch fail, and how.
 */
export async function installPoisonTrigger(db: Kysely<Database>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION evp_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.user_id LIKE 'poison-_____-%' THEN
        RAISE EXCEPTION 'injected failure for %', NEW.user_id USING ERRCODE = substring(NEW.user_id FROM 8 FOR 5);
      END IF;
      RETURN NEW;
    END $$`.execute(db);
  await sql`
    CREATE OR REPLACE TRIGGER evp_test_poison BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION evp_test_poison()`.execute(db);
}

export async function removePoisonTrigger(db: Kysely<Database>): Promise<void> {
  await sql`DROP TRIGGER IF EXISTS evp_test_poison ON events`.execute(db);
}
