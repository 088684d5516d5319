import type { Database } from "@evpipe/db";
import { type Kysely, sql } from "kysely";
import { formatCount, formatTable } from "./report.ts";

/**
 * Every table the consumer keeps beside `events`, from the schema's own type: a table added to `Database`
 * fails the type check here until it is counted.
 */
const rollupTables = {
  users: true,
  daily_user_bits: true,
  daily_event_user_bits: true,
  daily_event_counts: true,
  weekly_event_user_bits: true,
  compacted_weeks: true,
} satisfies Record<Exclude<keyof Database, "events">, true>;

export interface DiskUsage {
  /** Which database: the column's header. */
  label: string;
  events: number;
  eventsTableBytes: number;
  eventsIndexBytes: number;
  /** Each rollup table with its indexes and TOAST. */
  rollupBytes: Record<string, number>;
  /** WAL the server wrote while `walEvents` of these events were stored (every database's writes count). */
  walBytes: number;
  walEvents: number;
}

/** A position in the server's WAL: what `walBytesSince` measures from. */
export async function walPosition(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ lsn: string }>`SELECT pg_current_wal_lsn()::text AS lsn`.execute(db);
  return (rows[0] as { lsn: string }).lsn;
}

export async function walBytesSince(db: Kysely<Database>, position: string): Promise<number> {
  const { rows } = await sql<{ bytes: string }>`
    SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ${position}::pg_lsn)::bigint AS bytes`.execute(db);
  return Number(rows[0]?.bytes);
}

/** The database's events and rollups on disk, read where they stand (no VACUUM: what a running system holds). */
export async function measureDisk(
  db: Kysely<Database>,
  label: string,
  /** WAL written while `events` were stored; every event in the table when not given. */
  wal: { bytes: number; events?: number },
): Promise<DiskUsage> {
  const { rows: counts } = await sql<{ events: string; table: string; indexes: string }>`
    SELECT (SELECT count(*) FROM events) AS events, pg_table_size('events') AS table,
      pg_indexes_size('events') AS indexes`.execute(db);
  const { rows: rollups } = await sql<{ name: string; bytes: string }>`
    SELECT name, pg_total_relation_size(name::regclass) AS bytes
    FROM unnest(${Object.keys(rollupTables)}::text[]) AS name`.execute(db);
  const count = counts[0] as { events: string; table: string; indexes: string };
  return {
    label,
    events: Number(count.events),
    eventsTableBytes: Number(count.table),
    eventsIndexBytes: Number(count.indexes),
    rollupBytes: Object.fromEntries(rollups.map((row) => [row.name, Number(row.bytes)])),
    walBytes: wal.bytes,
    walEvents: wal.events ?? Number(count.events),
  };
}

const rollupTotal = (usage: DiskUsage) => Object.values(usage.rollupBytes).reduce((sum, bytes) => sum + bytes, 0);

/** Each measure's bytes and the events they are for: all rows of the database, or for WAL those measured. */
function measures(): Array<[string, (usage: DiskUsage) => number, (usage: DiskUsage) => number]> {
  const all = (usage: DiskUsage) => usage.events;
  const eventsTotal = (usage: DiskUsage) => usage.eventsTableBytes + usage.eventsIndexBytes;
  return [
    ["events: table and TOAST", (usage) => usage.eventsTableBytes, all],
    ["events: indexes", (usage) => usage.eventsIndexBytes, all],
    ["events: total", eventsTotal, all],
    ...Object.keys(rollupTables).map((table): [string, (usage: DiskUsage) => number, typeof all] => [
      `rollup ${table}`,
      (usage) => usage.rollupBytes[table] ?? 0,
      all,
    ]),
    ["rollups: total", rollupTotal, all],
    ["events and rollups: total", (usage) => eventsTotal(usage) + rollupTotal(usage), all],
    ["WAL written while storing (server-wide)", (usage) => usage.walBytes, (usage) => usage.walEvents],
  ];
}

/** MiB with a decimal below 10: the small rollup tables would all read "0 MiB". */
function mib(bytes: number): string {
  const value = bytes / 1024 ** 2;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} MiB`;
}

export function diskSection(heading: string, usages: readonly DiskUsage[]): string[] {
  if (usages.length === 0) return [];
  const header = [
    "measure",
    ...usages.flatMap((usage) => [`${usage.label}: per million events`, "size", "bytes/event"]),
  ];
  const rows = measures().map(([name, bytesOf, eventsOf]) => [
    name,
    ...usages.flatMap((usage) => {
      const bytes = bytesOf(usage);
      const events = eventsOf(usage);
      if (events === 0) return ["", mib(bytes), ""];
      const perEvent = bytes / events;
      return [mib(perEvent * 1e6), mib(bytes), perEvent < 10 ? perEvent.toFixed(1) : formatCount(perEvent)];
    }),
  ]);
  const counted = usages.map((usage) => `${usage.label} ${formatCount(usage.events)} events`).join(", ");
  return ["", `${heading} (${counted})`, formatTable(header, rows, header.map((_, index) => index).slice(1))];
}
