import { parseArgs } from "node:util";
import type { DeadLetterEvent, DeadLetterRecord } from "@evpipe/shared";
import { positiveInteger } from "../options.ts";
import { formatTable } from "../table.ts";
import type { DlqAction } from "./context.ts";
import { readDeadLetters } from "./reader.ts";
import { parseSelector, selectorOptions } from "./selector.ts";

const columns = ["seq", "time", "reason", "code", "attempts", "event", "user_id", "request_id"] as const;

/** One line per dead-lettered event; an unreadable dead letter is one line with no event. */
function row(record: DeadLetterRecord, event: DeadLetterEvent | undefined) {
  return {
    seq: record.seq,
    time: record.storedAt.toISOString(),
    reason: record.reason,
    code: record.errorCode,
    attempts: record.attempts,
    event_id: event?.id ?? null,
    event: event?.event ?? null,
    user_id: event?.user_id ?? null,
    request_id: record.requestId ?? null,
  };
}

export const list: DlqAction = async (context, argv) => {
  const { values } = parseArgs({
    args: argv,
    options: { ...selectorOptions, limit: { type: "string" }, json: { type: "boolean" } },
  });
  const limit = positiveInteger("limit", values.limit, 100);
  const selector = parseSelector(values, { required: false });
  const ctx = await context();
  const rows: Array<ReturnType<typeof row>> = [];
  let total = 0;
  for await (const record of readDeadLetters(ctx.js, ctx.jsm, ctx.target, selector)) {
    for (const event of record.events ?? [undefined]) {
      total++;
      if (rows.length < limit) rows.push(row(record, event));
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
  const cells = rows.map((r) => columns.map((key) => (r[key] === null ? "(unreadable)" : String(r[key]))));
  for (const line of formatTable(
    columns.map((key) => key.toUpperCase()),
    cells,
  ))
    ctx.print(line);
  ctx.print(
    total > rows.length
      ? `${rows.length} of ${total} dead-lettered events shown (--limit).`
      : `${total} dead-lettered events.`,
  );
};
