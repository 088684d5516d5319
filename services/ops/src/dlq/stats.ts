import { parseArgs } from "node:util";
import type { DeadLetterRecord } from "@evpipe/shared";
import { formatTable } from "../table.ts";
import { type DlqOperation, recentOperations } from "./audit.ts";
import type { DlqAction, DlqContext } from "./context.ts";
import { eventCount, readDeadLetters } from "./reader.ts";
import { parseSelector } from "./selector.ts";

interface Tally {
  messages: number;
  events: number;
}

interface DlqSummary extends Tally {
  oldest: string | null;
  newest: string | null;
  by_reason: Record<string, Tally>;
  by_code: Record<string, Tally>;
  recent_operations: DlqOperation[];
}

function count(map: Map<string, Tally>, key: string, record: DeadLetterRecord) {
  const entry = map.get(key) ?? { messages: 0, events: 0 };
  entry.messages++;
  entry.events += eventCount(record);
  map.set(key, entry);
}

async function summarise(ctx: DlqContext): Promise<DlqSummary> {
  const byReason = new Map<string, Tally>();
  const byCode = new Map<string, Tally>();
  let messages = 0;
  let events = 0;
  let oldest: Date | undefined;
  let newest: Date | undefined;
  const all = parseSelector({ all: true }, { required: false });
  for await (const record of readDeadLetters(ctx.js, ctx.jsm, ctx.target, all)) {
    messages++;
    events += eventCount(record);
    oldest ??= record.storedAt;
    newest = record.storedAt;
    count(byReason, record.reason, record);
    count(byCode, record.errorCode, record);
  }
  return {
    messages,
    events,
    oldest: oldest?.toISOString() ?? null,
    newest: newest?.toISOString() ?? null,
    by_reason: Object.fromEntries(byReason),
    by_code: Object.fromEntries(byCode),
    recent_operations: await recentOperations(ctx.jsm, ctx.target, 10),
  };
}

function printSummary(ctx: DlqContext, summary: DlqSummary) {
  const span = summary.oldest ? `, from ${summary.oldest} to ${summary.newest}` : "";
  ctx.print(`${summary.messages} dead letters holding ${summary.events} events${span}.`);
  for (const [title, tallies] of [
    ["REASON", summary.by_reason],
    ["CODE", summary.by_code],
  ] as const) {
    const entries = Object.entries(tallies);
    if (entries.length === 0) continue;
    ctx.print("");
    const rows = entries
      .sort((a, b) => b[1].events - a[1].events)
      .map(([key, n]) => [key, String(n.messages), String(n.events)]);
    for (const line of formatTable([title, "MESSAGES", "EVENTS"], rows)) ctx.print(line);
  }
  ctx.print("");
  const operations = summary.recent_operations;
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

export const stats: DlqAction = async (context, argv) => {
  const { values } = parseArgs({ args: argv, options: { json: { type: "boolean" } } });
  const ctx = await context();
  const summary = await summarise(ctx);
  if (values.json) ctx.print(JSON.stringify(summary));
  else printSummary(ctx, summary);
};
