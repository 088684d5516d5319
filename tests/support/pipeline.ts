import { randomBytes } from "node:crypto";
import { createDb, type Database, dropDatabase, ensureDatabase, migrateToLatest } from "@evpipe/db";
import {
  defaultStreamSettings,
  generateApiKey,
  type NatsNames,
  natsNames,
  natsServers,
  openKeysBucket,
  projectStreams,
  provisionStreams,
  revokeKey,
  type Scope,
  storeKeyRecord,
} from "@evpipe/shared";
import { type Kysely, sql } from "kysely";
import { connect, type JetStreamClient, type JetStreamManager, type KV, type NatsConnection } from "nats";
import { inject } from "vitest";

/**
 * One test file's private world: its own namespace for every stream, subject, consumer and key bucket,
 * and its own database, so runs never collide with each other or with a running system.
 */
export interface TestPipeline {
  namespace: string;
  names: NatsNames;
  natsUrl: string;
  databaseUrl: string;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  db: Kysely<Database>;
  keys: KV;
  /** Environment for a child gateway or consumer bound to this pipeline. */
  serviceEnv(extra?: Record<string, string>): Record<string, string>;
  createKey(
    scopes: Scope[],
    name?: string,
    limits?: { rate?: number; burst?: number },
  ): Promise<{ id: string; key: string }>;
  revokeKey(id: string): Promise<void>;
  /** Messages ever stored in the EVENTS stream (last sequence), so "nothing published" is checkable. */
  publishedCount(): Promise<number>;
  storedCount(ids: readonly string[]): Promise<number>;
  cleanup(): Promise<void>;
}

export function uniqueId(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${randomBytes(4).toString("hex")}`;
}

/** How many of `ids` the database at `databaseUrl` stores, asked on a connection of its own. */
export async function storedCountIn(databaseUrl: string, ids: readonly string[]): Promise<number> {
  const db = createDb({ url: databaseUrl, maxConnections: 1, applicationName: "evpipe-tests" });
  try {
    const { rows } = await sql<{
      n: string;
    }>`SELECT count(*) AS n FROM events WHERE id = ANY(${[...ids]}::uuid[])`.execute(db);
    return Number(rows[0]?.n);
  } finally {
    await db.destroy();
  }
}

/** URLs default to what the vitest global setup provides; the benchmark passes its own. */
export async function createTestPipeline(
  options: { natsUrl?: string; databaseUrl?: string; namespacePrefix?: string } = {},
): Promise<TestPipeline> {
  const namespace = uniqueId(options.namespacePrefix ?? "t");
  const names = natsNames(namespace);
  const natsUrl = options.natsUrl ?? inject("natsUrl");
  const base = new URL(options.databaseUrl ?? inject("databaseUrl"));
  base.pathname = `/evp_${namespace}`;
  const databaseUrl = base.toString();

  await ensureDatabase(databaseUrl);
  const db = createDb({ url: databaseUrl, maxConnections: 4, applicationName: "evpipe-tests" });
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  let keys: KV;
  try {
    await migrateToLatest(db);
    nc = await connect({ servers: natsServers(natsUrl), name: `tests-${namespace}` });
    jsm = await nc.jetstreamManager();
    js = nc.jetstream();
    // A small size cap keeps a leaked test stream from eating the machine's disk.
    await provisionStreams(jsm, names, { ...defaultStreamSettings, eventsMaxBytes: 512 * 1024 ** 2 });
    keys = await openKeysBucket(js, names.keysBucket);
  } catch (err) {
    // Leave nothing behind when setup itself fails.
    await nc?.close();
    await db.destroy();
    await dropDatabase(databaseUrl);
    throw err;
  }
  const connection = nc;

  return {
    namespace,
    names,
    natsUrl,
    databaseUrl,
    nc: connection,
    js,
    jsm,
    db,
    keys,
    serviceEnv: (extra = {}) => ({
      NATS_URL: natsUrl,
      DATABASE_URL: databaseUrl,
      NATS_NAMESPACE: namespace,
      EVENTS_MAX_BYTES: String(512 * 1024 ** 2),
      LOG_LEVEL: "info",
      ...extra,
    }),
    async createKey(scopes, name = "test", limits = {}) {
      const { key, record } = generateApiKey({ name, scopes, ...limits });
      await storeKeyRecord(keys, record);
      return { id: record.id, key };
    },
    async revokeKey(id) {
      await revokeKey(keys, id);
    },
    async publishedCount() {
      return (await jsm.streams.info(names.eventsStream)).state.last_seq;
    },
    async storedCount(ids) {
      if (ids.length === 0) return 0;
      // One array parameter: a load test's ids outnumber the protocol's 65,535 parameters of an IN list.
      const { rows } = await sql<{ n: string }>`
        SELECT count(*) AS n FROM events WHERE id = ANY(${[...ids]}::uuid[])`.execute(db);
      return Number(rows[0]?.n);
    },
    async cleanup() {
      const { streams, buckets } = projectStreams(namespace);
      for (const stream of [...streams, ...buckets.map((bucket) => `KV_${bucket}`)]) {
        await jsm.streams.delete(stream).catch(() => undefined);
      }
      await connection.close();
      await db.destroy();
      await dropDatabase(databaseUrl);
    },
  };
}
