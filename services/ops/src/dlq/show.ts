import { parseArgs } from "node:util";
import type { DeadLetterRecord } from "@evpipe/shared";
import { CliError, usageExit } from "../cli-error.ts";
import type { DlqAction, DlqContext } from "./context.ts";
import { readDeadLetters } from "./reader.ts";
import { parseSelector, type Selector } from "./selector.ts";

function view(record: DeadLetterRecord) {
  return {
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
  };
}

async function first(ctx: DlqContext, selector: Selector): Promise<DeadLetterRecord | undefined> {
  for await (const record of readDeadLetters(ctx.js, ctx.jsm, ctx.target, selector)) return record;
  return undefined;
}

export const show: DlqAction = async (context, argv, command) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: "boolean" } },
  });
  if (positionals.length !== 1) throw new CliError(`usage: ${command} show SEQ [--json]`, usageExit);
  const selector = parseSelector({ seq: positionals }, { required: true });
  const ctx = await context();
  const record = await first(ctx, selector);
  if (!record) throw new CliError(`no dead letter with sequence ${positionals[0]}`);
  // An unreadable envelope is shown as its raw bytes.
  const raw = record.events ? undefined : new TextDecoder().decode(record.data);
  if (values.json) {
    ctx.print(JSON.stringify({ ...view(record), ...(raw === undefined ? {} : { raw }) }));
    return;
  }
  const { events, ...fields } = view(record);
  for (const [name, value] of Object.entries(fields)) ctx.print(`${name.padEnd(17)}${value ?? "-"}`);
  ctx.print(events ? `events (${events.length}):` : "the original envelope could not be read; its raw bytes:");
  ctx.print(events ? JSON.stringify(events, null, 2) : (raw ?? ""));
};
