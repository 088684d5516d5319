import { parseJsonText } from "@evpipe/shared";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";

// Dates (UTC days) stay 'YYYY-MM-DD' strings: a JS Date would shift them into the local time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);
// jsonb keeps numbers a JS number cannot hold (1e400, 12345678901234567890): read them back exactly as stored.
pg.types.setTypeParser(pg.types.builtins.JSONB, parseJsonText);
pg.types.setTypeParser(pg.types.builtins.JSON, parseJsonText);

import type { Database } from "./schema.ts";

export function createDb(options: {
  url: string;
  maxConnections: number;
  applicationName: string;
  /** Client-side limit on one query: a hung server (stopped process, dead network path) fails the query. */
  queryTimeoutMs?: number;
  /** Told of each connection lost; the query that was running on it fails on its own. */
  onConnectionError?: (err: Error) => void;
}): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections,
    application_name: options.applicationName,
    connectionTimeoutMillis: 5_000,
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
  });
  const onError = options.onConnectionError ?? (() => {});
  // A client emits "error" when its connection dies (PostgreSQL stopped, crashed or restarted). pg-pool listens
  // only while a client is idle; one checked out by a query at that moment would crash the process with an
  // unhandled "error" event. Every client gets a listener of its own for its whole life.
  pool.on("connect", (client) => client.on("error", onError));
  pool.on("error", onError);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** A short-lived admin connection whose loss fails the query under way instead of crashing the process. */
async function adminClient(url: string): Promise<pg.Client> {
  const admin = new URL(url);
  admin.pathname = "/postgres";
  // A host that drops packets would otherwise hold `pnpm migrate` forever.
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** CREATE DATABASE when the database in `url` does not exist yet; safe to race. */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(name)) throw new Error(`database name "${name}" must be 1 to 63 of [A-Za-z0-9_-]`);
  const client = await adminClient(url);
  try {
    const existing = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (existing.rowCount) return false;
    await client.query(`CREATE DATABASE "${name}"`);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "42P04") return false;
    throw err;
  } finally {
    await client.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const client = await adminClient(url);
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name.replaceAll('"', '""')}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
