import { createLogger, databaseUrlVar, logLevelVar, parseEnv } from "@evpipe/shared";
import { createDb, ensureDatabase } from "./connection.ts";
import { migrateToLatest } from "./migrate.ts";

const env = parseEnv({ DATABASE_URL: databaseUrlVar, LOG_LEVEL: logLevelVar }, process.env);
const log = createLogger({ service: "migrate", level: env.LOG_LEVEL });

const created = await ensureDatabase(env.DATABASE_URL);
const db = createDb({ url: env.DATABASE_URL, maxConnections: 1, applicationName: "evpipe-migrate" });
try {
  const applied = await migrateToLatest(db);
  log.info({ createdDatabase: created, applied }, "database is up to date");
} finally {
  await db.destroy();
}
