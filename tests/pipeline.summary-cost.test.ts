import { createDb } from "@evpipe/db";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { waitFor } from "./support/wait-for.ts";

// What one call costs: no PostgreSQL at all, and JetStream at most once per refresh interval. The gateway alone,
// so every JetStream request of the namespace and every statement on its database is the test's or the gateway's.
const refreshMs = 1000;
const services = usePipelineServices({
  key: { scopes: ["read"] },
  gatewayEnv: { PIPELINE_SAMPLE_INTERVAL_MS: String(refreshMs) },
  consumerEnv: false,
});

interface Answer {
  status: number;
  sampledAt: string;
}

async function call(): Promise<Answer> {
  const res = await fetch(`${services.gateway.url}/v1/pipeline`, { headers: { "x-api-key": services.key } });
  const body = (await res.json()) as { sampled_at: string };
  return { status: res.status, sampledAt: body.sampled_at };
}

const burst = (calls: number) => Promise.all(Array.from({ length: calls }, call));

/** The JetStream API requests of this file's namespace, as a plain subscriber in the same account sees them. */
function watchJetStreamRequests() {
  const subjects: string[] = [];
  const sub = services.pipeline.nc.subscribe("$JS.API.>", {
    callback: (_err, msg) => {
      if (msg.subject.includes(services.pipeline.namespace)) subjects.push(msg.subject);
    },
  });
  return { subjects, stop: () => sub.unsubscribe() };
}

type TableStats = Record<string, number>;

/** The events table's access counters, read on a connection of its own (a backend reads statistics once). */
async function eventsStats(): Promise<TableStats> {
  const db = createDb({ url: services.pipeline.databaseUrl, maxConnections: 1, applicationName: "evpipe-tests" });
  try {
    const { rows } = await sql<Record<string, string | null>>`
      SELECT seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd
      FROM pg_stat_user_tables WHERE relname = 'events'`.execute(db);
    return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([name, value]) => [name, Number(value ?? 0)]));
  } finally {
    await db.destroy();
  }
}

/**
 * A sequential scan of events on a connection closed at once (a backend's statistics are flushed as it exits),
 * and the counters once they show it: proof that a statement on events does show, so "unchanged" means something.
 */
async function countedControlScan(before: TableStats): Promise<TableStats> {
  const db = createDb({ url: services.pipeline.databaseUrl, maxConnections: 1, applicationName: "evpipe-tests" });
  await sql`SELECT count(*) FROM events WHERE metadata IS NOT NULL`.execute(db);
  await db.destroy();
  return waitFor("the control scan in pg_stat_user_tables", async () => {
    const stats = await eventsStats();
    return (stats.seq_scan ?? 0) > (before.seq_scan ?? 0) && stats;
  });
}

async function gatewayConnections(): Promise<number> {
  const db = createDb({ url: services.pipeline.databaseUrl, maxConnections: 1, applicationName: "evpipe-tests" });
  try {
    const { rows } = await sql<{ n: string }>`
      SELECT count(*) AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'evpipe-gateway'`.execute(db);
    return Number(rows[0]?.n);
  } finally {
    await db.destroy();
  }
}

describe("the cost of GET /v1/pipeline", () => {
  it("reads JetStream at most once per refresh interval, however many calls come", async () => {
    const requests = watchJetStreamRequests();
    try {
      await services.pipeline.nc.flush();
      // The first calls wait together for the first sample.
      const first = await burst(100);
      expect(new Set(first.map((answer) => answer.status))).toEqual(new Set([200]));
      const sampledAt = first[0]?.sampledAt ?? "";
      expect(new Set(first.map((answer) => answer.sampledAt))).toEqual(new Set([sampledAt]));
      // The writer's consumer, EVENTS, the DLQ, the destinations' DLQ, the destinations' names.
      const oneSample = requests.subjects.splice(0).sort();
      expect(oneSample.length, oneSample.join("\n")).toBeGreaterThan(0);

      // Within the interval: no request at all.
      expect((await burst(100)).every((answer) => answer.sampledAt === sampledAt)).toBe(true);
      expect(requests.subjects).toEqual([]);

      // Stale: a burst is answered with the last sample (or, once it landed, the new one) and starts one new one.
      await waitFor("the sample to age", () => Date.now() - Date.parse(sampledAt) > refreshMs, { intervalMs: 20 });
      const stale = await burst(100);
      expect(stale.every((answer) => answer.status === 200)).toBe(true);
      expect(stale.some((answer) => answer.sampledAt === sampledAt)).toBe(true);
      expect(new Set(stale.map((answer) => answer.sampledAt)).size).toBeLessThanOrEqual(2);
      await waitFor("the new sample", async () => (await call()).sampledAt !== sampledAt);
      // Nothing changed in between, so one sample asks exactly what the first one asked.
      expect(requests.subjects.sort()).toEqual(oneSample);
    } finally {
      requests.stop();
    }
  });

  it("never touches the events table: 150 calls change none of its access counters", async () => {
    // The test pipeline's own connections (migrations) closed, so their statistics are flushed and settle.
    await services.pipeline.db.destroy();
    const baseline = await countedControlScan(await eventsStats());

    for (let round = 0; round < 3; round++) {
      const answers = await burst(50);
      expect(answers.every((answer) => answer.status === 200)).toBe(true);
      const latest = answers[0]?.sampledAt ?? "";
      await waitFor("a new sample", async () => (await call()).sampledAt !== latest, { timeoutMs: 5000 });
    }
    // No connection could hold statistics not yet flushed: the gateway never opened one.
    expect(await gatewayConnections()).toBe(0);
    expect(await services.gateway.stop()).toBe(0);

    const after = await countedControlScan(baseline);
    expect(after).toEqual({ ...baseline, seq_scan: (baseline.seq_scan ?? 0) + 1 });
  });
});
