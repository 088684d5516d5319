import os from "node:os";
import {
  compactWeeks,
  createDb,
  type Database,
  dailyActiveUsers,
  daysBetween,
  dropDatabase,
  ensureDatabase,
  insertEvents,
  KnownUsers,
  migrateToLatest,
  retention,
  storeEvents,
  topEvents,
} from "@evpipe/db";
import type { EnvelopeEvent } from "@evpipe/shared";
import { type Kysely, sql } from "kysely";
import { type RawScans, type ReportPeriod, rawScans } from "./raw-scans.ts";

// `pnpm bench` (second part): analytics on rollups vs raw scans over a generated data set, loaded through the
// consumer's own insert path. BENCH_ANALYTICS_EVENTS (10,000,000) sets the size; 0 skips this part, and so does
// BENCH_ONLY, which picks one phase of the first part.
const progress = (message: string) => process.stderr.write(`bench analytics: ${message}\n`);
const env = process.env;
const total = env.BENCH_ONLY ? 0 : Number(env.BENCH_ANALYTICS_EVENTS ?? 10_000_000);
const compareEvents = Number(env.BENCH_ROLLUP_COMPARE_EVENTS ?? 1_000_000);
const steadyEvents = Math.round(compareEvents / 4);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const serverUrl = env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres";
const days = 90;
const users = 200_000;
const eventNames = Array.from({ length: 40 }, (_, i) => `event_${String(i).padStart(2, "0")}`);
const lastDay = "2026-11-22";
const firstDayMs = Date.parse(`${lastDay}T00:00:00Z`) - (days - 1) * 86_400_000;

/** The days a load spreads its events over, in time order. */
interface Span {
  firstDayMs: number;
  days: number;
}
const loadSpan: Span = { firstDayMs, days };

/** A deterministic generator (mulberry32), so every run loads the same events. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Skewed like real traffic (a few heavy users and popular events) and arriving in time order as ingestion
 * does, each day's events in random order within the day.
 */
function* generate(count: number, seed: number, batchSize: number, span: Span): Generator<EnvelopeEvent[]> {
  const next = random(seed);
  let n = 0;
  while (n < count) {
    const batch: EnvelopeEvent[] = [];
    for (let i = 0; i < batchSize && n < count; i++, n++) {
      const dayStart = span.firstDayMs + Math.floor((n / count) * span.days) * 86_400_000;
      const at = new Date(dayStart + Math.floor(next() * 86_400_000)).toISOString();
      batch.push({
        id: `${seed.toString(16).padStart(8, "0")}-0000-4000-8000-${n.toString(16).padStart(12, "0")}`,
        event: eventNames[Math.floor(eventNames.length * next() ** 3)] as string,
        user_id: `user-${Math.floor(users * next() ** 2)}`,
        client_ts: at,
        received_at: at,
        request_id: "bench",
        key_id: "bench",
      });
    }
    yield batch;
  }
}

type Write = (db: Kysely<Database>, events: EnvelopeEvent[], known: KnownUsers) => Promise<unknown>;

async function load(db: Kysely<Database>, count: number, seed: number, write: Write, span = loadSpan): Promise<number> {
  const started = performance.now();
  const batches = generate(count, seed, 2000, span);
  // One consumer's memory of users, shared by its writers.
  const known = new KnownUsers();
  // Four writers, like the consumer's default concurrency.
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let batch = batches.next(); !batch.done; batch = batches.next()) await write(db, batch.value, known);
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

async function withDatabase<T>(name: string, use: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const url = new URL(serverUrl);
  url.pathname = `/evp_bench_${name}_${process.pid}`;
  await ensureDatabase(url.toString());
  const db = createDb({ url: url.toString(), maxConnections: 5, applicationName: "evpipe-bench" });
  try {
    await migrateToLatest(db);
    return await use(db);
  } finally {
    await db.destroy();
    await dropDatabase(url.toString());
  }
}

async function timings(runs: number, query: () => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < 3; i++) await query();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await query();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] as number;
  return { p50: at(0.5), p95: at(0.95) };
}

/** One line of the report: what was measured, its value, and the target it has, if any. */
type Row = [metric: string, value: string, target: string];

/** The rollups' cost on the insert path when nothing is stored yet: every user is new, every rollup row too. */
async function emptyTableThroughput(): Promise<Row[]> {
  progress(
    `insert throughput with rollups off and on: ${compareEvents.toLocaleString()} events each into empty tables`,
  );
  const off = await withDatabase("off", (db) => load(db, compareEvents, 1, insertEvents));
  const on = await withDatabase("on", (db) => load(db, compareEvents, 1, storeEvents));
  return [
    [
      "insert events/s into empty tables, rollups off (4 writers, 2000/statement)",
      Math.round(off).toLocaleString(),
      "",
    ],
    ["insert events/s into empty tables, rollups on", Math.round(on).toLocaleString(), ""],
    ["rollup cost into empty tables (1 - on/off)", `${Math.round((1 - on / off) * 100)}%`, ""],
  ];
}

/** Loads the whole data set with rollups, then compacts its past weeks as the consumer would. */
async function loadDataSet(db: Kysely<Database>): Promise<Row[]> {
  progress(
    `loading ${total.toLocaleString()} events (${days} days, ${users.toLocaleString()} users, ${eventNames.length} events)`,
  );
  const rate = await load(db, total, 2, storeEvents);
  const rows: Row[] = [
    [`load of ${total.toLocaleString()} events with rollups, events/s`, Math.round(rate).toLocaleString(), ""],
  ];
  // What the consumer does every hour: the past weeks' event bitmaps OR-ed into weekly rows.
  const compactStarted = performance.now();
  const weeks = await compactWeeks(db);
  rows.push([
    `compacting ${weeks.length} past weeks (once; then one week a week), ms`,
    Math.round(performance.now() - compactStarted).toLocaleString(),
    "",
  ]);
  await sql`VACUUM ANALYZE`.execute(db);
  return rows;
}

/** The data set's last 30 days; cohorts stop 7 days before the end, so each has its 7 days of retention in them. */
function lastThirtyDays(): ReportPeriod {
  const to = lastDay;
  const from = daysBetween(
    new Date(Date.parse(`${to}T00:00:00Z`) - 29 * 86_400_000).toISOString().slice(0, 10),
    to,
  )[0] as string;
  return { from, to, cohortTo: daysBetween(from, to)[29 - 7] as string };
}

async function queryLatencies(db: Kysely<Database>, { from, to }: ReportPeriod, raw: RawScans): Promise<Row[]> {
  const queries = [
    {
      name: "DAU, 30 days",
      api: () => dailyActiveUsers(db, from, to),
      raw: raw.dailyActiveUsers,
      target: "p95 <= 20 ms",
    },
    {
      name: "top 10 events, 30 days",
      api: () => topEvents(db, from, to, 10),
      raw: raw.topEvents,
      target: "p95 <= 20 ms",
    },
    {
      name: "retention, 30 cohorts x 7 days",
      api: () => retention(db, from, daysBetween(from, to)[29 - 7] as string, 7),
      raw: raw.retention,
      target: "",
    },
  ];
  const rows: Row[] = [];
  for (const query of queries) {
    progress(`timing ${query.name}`);
    const api = await timings(30, query.api);
    const rawTimings = await timings(3, query.raw);
    rows.push([`${query.name}: rollups p50 / p95`, `${api.p50.toFixed(1)} / ${api.p95.toFixed(1)} ms`, query.target]);
    rows.push([`${query.name}: raw scan p50`, `${rawTimings.p50.toFixed(0)} ms`, ""]);
  }
  return rows;
}

/** Where the rollups' answers differ from the raw scans'; the speed means nothing unless this is empty. */
async function rollupMismatches(db: Kysely<Database>, { from, to, cohortTo }: ReportPeriod, raw: RawScans) {
  const mismatches: string[] = [];
  const dau = await dailyActiveUsers(db, from, to);
  if (JSON.stringify(dau) !== JSON.stringify(await raw.dailyActiveUsers()))
    mismatches.push("DAU from rollups differs from the raw scan");
  if (JSON.stringify(await topEvents(db, from, to, 10)) !== JSON.stringify(await raw.topEvents())) {
    mismatches.push("top events from rollups differ from the raw scan");
  }
  const cohorts = await retention(db, from, cohortTo, 7);
  const rawCells = new Map((await raw.retention()).map((r) => [`${r.cohort}/${r.offset}`, Number(r.users)]));
  const mismatched = cohorts
    .flatMap((c) => c.retained.map((n, k) => [c.cohort, k, n] as const))
    .filter(([c, k, n]) => (rawCells.get(`${c}/${k}`) ?? 0) !== n);
  if (mismatched.length > 0) mismatches.push(`retention differs from the raw scan in ${mismatched.length} cells`);
  return mismatches;
}

/**
 * The same comparison in the steady state: the next day's events into this database, whose users are
 * mostly known. Rounds alternate so both sides see the same table sizes; the rollups' answers must be
 * checked before, as the rounds without rollups leave them behind the events.
 */
async function loadedDatabaseThroughput(db: Kysely<Database>): Promise<Row[]> {
  progress("insert throughput with rollups off and on, into the loaded database");
  const nextDay = { firstDayMs: Date.parse(`${lastDay}T00:00:00Z`) + 86_400_000, days: 1 };
  const steady = { off: [] as number[], on: [] as number[] };
  for (let round = 0; round < 3; round++) {
    steady.off.push(await load(db, steadyEvents, 10 + round, insertEvents, nextDay));
    steady.on.push(await load(db, steadyEvents, 20 + round, storeEvents, nextDay));
  }
  const steadyOff = median(steady.off);
  const steadyOn = median(steady.on);
  return [
    [
      `insert events/s into the loaded database, rollups off / on (median of 3 x ${steadyEvents.toLocaleString()})`,
      `${Math.round(steadyOff).toLocaleString()} / ${Math.round(steadyOn).toLocaleString()}`,
      "",
    ],
    ["rollup cost in the loaded database (1 - on/off)", `${Math.round((1 - steadyOn / steadyOff) * 100)}%`, "<= 30%"],
  ];
}

function printReport(rows: Row[], problems: string[]) {
  const width = Math.max(...rows.map((r) => r[0].length));
  const valueWidth = Math.max(...rows.map((r) => r[1].length));
  process.stdout.write(`\nevpipe analytics benchmark: ${os.cpus().length} CPUs, node ${process.version}\n`);
  process.stdout.write(`${"metric".padEnd(width)}  ${"value".padStart(valueWidth)}  target\n`);
  for (const [metric, value, target] of rows)
    process.stdout.write(`${metric.padEnd(width)}  ${value.padStart(valueWidth)}  ${target}\n`);
  for (const problem of problems) process.stdout.write(`PROBLEM: ${problem}\n`);
  if (problems.length > 0) process.exitCode = 1;
}

async function main() {
  if (total === 0) return;
  const rows = await emptyTableThroughput();
  const problems: string[] = [];
  await withDatabase("analytics", async (db) => {
    rows.push(...(await loadDataSet(db)));
    const period = lastThirtyDays();
    const raw = rawScans(db, period);
    rows.push(...(await queryLatencies(db, period, raw)));
    const mismatches = await rollupMismatches(db, period, raw);
    problems.push(...mismatches);
    rows.push(["rollup answers == raw scan answers", mismatches.length === 0 ? "yes" : "NO", "equal"]);
    rows.push(...(await loadedDatabaseThroughput(db)));
  });
  printReport(rows, problems);
}

await main();
