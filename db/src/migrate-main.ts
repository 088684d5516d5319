import { createLogger, databaseUrlVar, loadConfigOrExit, logLevelVar, parseEnv } from "@evpipe/shared";
import { createDb, ensureDatabase } from "./connection.ts";
import { migrateToLatest } from "./migrate.ts";
import { postgresFailure, postgresUrlForLog } from "./postgres-failure.ts";

const env = loadConfigOrExit("migrate", (vars) =>
  parseEnv({ DATABASE_URL: databaseUrlVar, LOG_LEVEL: logLevelVar }, vars),
);
const log = createLogger({ service: "migrate", level: env.LOG_LEVEL });
const where = postgresUrlForLog(env.DATABASE_URL);

/** An expected condition (PostgreSQL down, a refused login, a failing migration) is one line, never a stack. */
function fail(line: string): never {
  process.stderr.write(`migrate: ${line}\n`);
  process.exit(1);
}

const created = await ensureDatabase(env.DATABASE_URL).catch((err: unknown) => {
  fail(postgresFailure(err, where) ?? `could not create the database at ${where}: ${String(err)}`);
});
const db = createDb({ url: env.DATABASE_URL, maxConnections: 1, applicationName: "evpipe-migrate" });
let failure: string | undefined;
try {
  const applied = await migrateToLatest(db);
  log.info({ createdDatabase: created, applied }, "database is up to date");
} catch (err) {
  failure = postgresFailure(err, where);
  if (!failure) throw err;
} finally {
  await db.destroy();
}
if (failure) fail(`migrations not applied: ${failure}`);
