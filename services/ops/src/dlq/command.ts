import { parseArgs } from "node:util";
import {
  type DeadLetterEvent,
  type DeadLetterRecord,
  encodeReplay,
  isNotFound,
  type Logger,
  type NatsNames,
  parseWholeNumber,
} from "@evpipe/shared";
import { SingleBar } from "cli-progress";
import type { JetStreamClient, JetStreamManager } from "nats";
import { CliError, usageExit } from "../cli-error.ts";
import { formatTable } from "../table.ts";
import { type DlqOperation, operator, recentOperations, recordOperation } from "./audit.ts";
import { readDeadLetters } from "./reader.ts";
import { describeSelector, parseSelector, type Selector, selectorOptions } from "./selector.ts";

export const dlqUsage = `pnpm ops dlq stats [--json]
pnpm ops dlq list [--reason R] [--code C] [--since T] [--until T] [--limit N] [--json]
pnpm ops dlq show SEQ [--json]
pnpm ops dlq replay (--all | --seq N... | --reason R | --code C | --since T | --until T) [--dry-run] [--rate N] [--json]
pnpm ops dlq purge (--all | --seq N... | --reason R | --code C | --since T | --until T) --yes [--json]
  T: 2026-11-23T10:00:00Z, 2026-11-23, or a time ago such as 30m, 2h, 7d`;

export interface DlqContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: NatsNames;
  log: Logger;
  print: (line: string) => void;
  /** Progress bars only on a terminal, never with --json. */
  interactive: boolean;
}

const eventCount = (record: DeadLetterRecord) => record.events?.length ?? 1;
const isReadable = (record: DeadLetterRecord): record is DeadLetterRecord & { events: DeadLetterEvent[] } =>
  record.events !== undefined;

function positiveInteger(option: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = parseWholeNumber(value, 1, Number.MAX_SAFE_INTEGER);
  if (n === undefined) throw new CliError(`--${option} must be a whole number above 0`, usageExit);
  return n;
}

async function collect(ctx: DlqContext, selector: Selector): Promise<DeadLetterRecord[]> {
  const records: DeadLetterRecord[] = [];
  for await (const record of readDeadLetters(ctx.js, ctx.jsm, ctx.names.dlqStream, selector)) records.push(record);
  return records;
}

function progress(ctx: DlqContext, json: boolean, total: number, verb: string): SingleBar | undefined {
  if (json || !ctx.interactive || total === 0) return undefined;
  const bar = new SingleBar({
    format: `${verb} [{bar}] {value}/{total} dead letters | {eta_formatted} left`,
    hideCursor: true,
  });
  bar.start(total, 0);
  return bar;
}

async function stats(context: () => Promise<DlqContext>, argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { json: { type: "boolean" } } });
  const ctx = await context();
  const byReason = new Map<string, { messages: number; events: number }>();
  const byCode = new Map<string, { messages: number; events: number }>();
  let messages = 0;
  let events = 0;
  let oldest: Date | undefined;
  let newest: Date | undefined;
  const all = parseSelector({ all: true }, { required: false });
  for await (const record of readDeadLetters(ctx.js, ctx.jsm, ctx.names.dlqStream, all)) {
    messages++;
    events += eventCount(record);
    oldest ??= record.storedAt;
    newest = record.storedAt;
    for (const [map, key] of [
      [byReason, record.reason],
      [byCode, record.errorCode],
    ] as const) {
      const entry = map.get(key) ?? { messages: 0, events: 0 };
      entry.messages++;
      entry.events += eventCount(record);
      map.set(key, entry);
    }
  }
  const operations = await recentOperations(ctx.jsm, ctx.names.dlqAuditStream, 10);
  const summary = {
    messages,
    events,
    oldest: oldest?.toISOString() ?? null,
    newest: newest?.toISOString() ?? null,
    by_reason: Object.fromEntries(byReason),
    by_code: Object.fromEntries(byCode),
    recent_operations: operations,
  };
  if (values.json) {
    ctx.print(JSON.stringify(summary));
    return;
  }
  ctx.print(
    `${messages} dead letters holding ${events} events${oldest ? `, from ${summary.oldest} to ${summary.newest}` : ""}.`,
  );
  for (const [title, map] of [
    ["REASON", byReason],
    ["CODE", byCode],
  ] as const) {
    if (map.size === 0) continue;
    ctx.print("");
    const rows = [...map]
      .sort((a, b) => b[1].events - a[1].events)
      .map(([key, n]) => [key, String(n.messages), String(n.events)]);
    for (const line of formatTable([title, "MESSAGES", "EVENTS"], rows)) ctx.print(line);
  }
  ctx.print("");
  if (operations.length === 0) {
    ctx.print("No replays or purges yet.");
    return;
  }
  ctx.print("Recent replays and purges:");
  const rows = operations.map((op) => [
    op.at,
    op.operation,
    JSON.stringify(op.selector),
    String(op.messages),
    String(op.events),
    op.by,
    op.completed ? "completed" : "interrupted",
  ]);
  for (const line of formatTable(["AT", "OPERATION", "SELECTOR", "MESSAGES", "EVENTS", "BY", "STATUS"], rows))
    ctx.print(line);
}

async function list(context: () => Promise<DlqContext>, argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: { ...selectorOptions, limit: { type: "string" }, json: { type: "boolean" } },
  });
  const limit = positiveInteger("limit", values.limit, 100);
  const selector = parseSelector(values, { required: false });
  const ctx = await context();
  const rows: Array<Record<string, unknown>> = [];
  let total = 0;
  for await (const record of readDeadLetters(ctx.js, ctx.jsm, ctx.names.dlqStream, selector)) {
    for (const event of record.events ?? [undefined]) {
      total++;
      if (rows.length >= limit) continue;
      rows.push({
        seq: record.seq,
        time: record.storedAt.toISOString(),
        reason: record.reason,
        code: record.errorCode,
        attempts: record.attempts,
        event_id: event?.id ?? null,
        event: event?.event ?? null,
        user_id: event?.user_id ?? null,
        request_id: record.requestId ?? null,
      });
    }
  }
  if (values.json) {
    ctx.print(JSON.stringify(rows));
    return;
  }
  if (total === 0) {
    ctx.print("No dead letters match.");
    return;
  }
  const cells = rows.map((row) =>
    ["seq", "time", "reason", "code", "attempts", "event", "user_id", "request_id"].map((key) =>
      row[key] === null ? "(unreadable)" : String(row[key]),
    ),
  );
  for (const line of formatTable(
    ["SEQ", "TIME", "REASON", "CODE", "ATTEMPTS", "EVENT", "USER_ID", "REQUEST_ID"],
    cells,
  )) {
    ctx.print(line);
  }
  ctx.print(
    total > rows.length
      ? `${rows.length} of ${total} dead-lettered events shown (--limit).`
      : `${total} dead-lettered events.`,
  );
}

async function show(context: () => Promise<DlqContext>, argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: "boolean" } },
  });
  if (positionals.length !== 1) throw new CliError("usage: pnpm ops dlq show SEQ [--json]", usageExit);
  const selector = parseSelector({ seq: positionals }, { required: true });
  const ctx = await context();
  const [record] = await collect(ctx, selector);
  if (!record) throw new CliError(`no dead letter with sequence ${positionals[0]}`);
  const view = {
    seq: record.seq,
    stored_at: record.storedAt.toISOString(),
    reason: record.reason,
    error_code: record.errorCode,
    error_message: record.errorMessage,
    attempts: record.attempts,
    first_failure_at: record.firstFailureAt ?? null,
    last_failure_at: record.lastFailureAt ?? null,
    original_stream: record.originalStream ?? null,
    original_seq: record.originalSeq ?? null,
    request_id: record.requestId ?? null,
    events: record.events ?? null,
    ...(record.events ? {} : { raw: new TextDecoder().decode(record.data) }),
  };
  if (values.json) {
    ctx.print(JSON.stringify(view));
    return;
  }
  const { events, raw, ...fields } = view as typeof view & { raw?: string };
  for (const [name, value] of Object.entries(fields)) ctx.print(`${name.padEnd(17)}${value ?? "-"}`);
  ctx.print(events ? `events (${events.length}):` : "the original envelope could not be read; its raw bytes:");
  ctx.print(events ? JSON.stringify(events, null, 2) : (raw ?? ""));
}

/** Publishes one dead letter's events back to events.ingest and waits for the PubAck. */
async function republish(ctx: DlqContext, record: DeadLetterRecord & { events: DeadLetterEvent[] }): Promise<void> {
  const { data, headers, msgID } = encodeReplay(record, ctx.names.dlqStream);
  await ctx.js.publish(ctx.names.eventsSubject, data, { msgID, headers });
}

async function changeDeadLetters(context: () => Promise<DlqContext>, argv: string[], operation: "replay" | "purge") {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...selectorOptions,
      "dry-run": { type: "boolean" },
      yes: { type: "boolean" },
      rate: { type: "string" },
      json: { type: "boolean" },
    },
  });
  const selector = parseSelector(values, { required: true });
  const rate = values.rate === undefined ? undefined : positiveInteger("rate", values.rate, 1);
  const ctx = await context();
  const records = await collect(ctx, selector);
  // Unreadable envelopes would only be dead-lettered again; they can be inspected and purged.
  const eligible = operation === "replay" ? records.filter(isReadable) : records;
  const skipped = records.length - eligible.length;
  const events = eligible.reduce((sum, record) => sum + eventCount(record), 0);
  const json = values.json ?? false;

  const dryRun = values["dry-run"] || (operation === "purge" && !values.yes);
  if (dryRun) {
    const summary = { operation, dry_run: true, messages: eligible.length, events, skipped };
    if (json) ctx.print(JSON.stringify(summary));
    else
      ctx.print(
        `Would ${operation} ${eligible.length} dead letters (${events} events)${skipped ? `; ${skipped} unreadable skipped` : ""}.`,
      );
    if (operation === "purge" && !values["dry-run"]) {
      throw new CliError("purge deletes for good: run it again with --yes", usageExit);
    }
    return;
  }

  const started = Date.now();
  const record: DlqOperation = {
    operation,
    selector: describeSelector(selector),
    messages: 0,
    events: 0,
    skipped,
    by: operator(),
    at: new Date(started).toISOString(),
    duration_ms: 0,
    completed: false,
  };
  const bar = progress(ctx, json, eligible.length, operation === "replay" ? "Replaying" : "Purging");
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    for (const letter of eligible) {
      if (interrupted) break;
      // The dead letter is removed only once JetStream holds its replay: an interruption anywhere
      // leaves it to be replayed again, and storing by id makes that harmless.
      if (operation === "replay" && isReadable(letter)) await republish(ctx, letter);
      await ctx.jsm.streams.deleteMessage(ctx.names.dlqStream, letter.seq, false).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
      record.messages++;
      record.events += eventCount(letter);
      bar?.increment();
      if (rate) {
        const due = started + (record.events / rate) * 1000;
        if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      }
    }
    record.completed = !interrupted;
  } finally {
    bar?.stop();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    record.duration_ms = Date.now() - started;
    ctx.log.info({ dlqOperation: record }, `dlq ${operation}`);
    await recordOperation(ctx.js, ctx.names.dlqAuditSubject, record).catch((err: unknown) =>
      ctx.log.error({ err }, "could not record the operation in the audit stream"),
    );
  }
  const verb = operation === "replay" ? "Replayed" : "Purged";
  if (json) ctx.print(JSON.stringify({ ...record, dry_run: false }));
  else {
    ctx.print(
      `${verb} ${record.messages} dead letters (${record.events} events) in ${(record.duration_ms / 1000).toFixed(1)} s` +
        `${skipped ? `; ${skipped} unreadable skipped (inspect with dlq show, remove with dlq purge)` : ""}` +
        `${interrupted ? "; interrupted: run it again to finish" : ""}.`,
    );
  }
  if (interrupted) throw new CliError("interrupted", 130);
}

export async function dlqCommand(argv: string[], context: () => Promise<DlqContext>): Promise<void> {
  const [action, ...rest] = argv;
  switch (action) {
    case "stats":
      return stats(context, rest);
    case "list":
      return list(context, rest);
    case "show":
      return show(context, rest);
    case "replay":
      return changeDeadLetters(context, rest, "replay");
    case "purge":
      return changeDeadLetters(context, rest, "purge");
    default:
      throw new CliError(`usage:\n${dlqUsage}`, usageExit);
  }
}
