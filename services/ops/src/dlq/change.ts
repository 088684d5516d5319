import { parseArgs } from "node:util";
import { type DeadLetterEvent, type DeadLetterRecord, encodeReplay, isNotFound } from "@evpipe/shared";
import { SingleBar } from "cli-progress";
import { CliError, usageExit } from "../cli-error.ts";
import { positiveInteger } from "../options.ts";
import { type DlqOperation, operator, recordOperation } from "./audit.ts";
import type { DlqAction, DlqContext } from "./context.ts";
import { countDeadLetters, eventCount, isReadable, readDeadLetters } from "./reader.ts";
import { describeSelector, parseSelector, type Selector, selectorOptions } from "./selector.ts";

type Operation = DlqOperation["operation"];

interface ChangeRequest {
  operation: Operation;
  selector: Selector;
  /** Events per second, at most. */
  rate: number | undefined;
  json: boolean;
  dryRun: boolean;
  /** A purge that was not confirmed with --yes only says what it would do, then fails. */
  unconfirmedPurge: boolean;
}

function parseRequest(operation: Operation, argv: string[]): ChangeRequest {
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
  const unconfirmedPurge = operation === "purge" && !values.yes && !values["dry-run"];
  return {
    operation,
    selector: parseSelector(values, { required: true }),
    rate: values.rate === undefined ? undefined : positiveInteger("rate", values.rate, 1),
    json: values.json ?? false,
    dryRun: (values["dry-run"] ?? false) || unconfirmedPurge,
    unconfirmedPurge,
  };
}

/**
 * A bar only on a terminal. Its total comes from a first pass over the selection's headers alone (no bodies,
 * nothing kept): about 3 s per 100,000 dead letters against about a minute for the replay itself, and exact
 * for any selector, where the stream's message count would be exact only for --all.
 */
async function progress(ctx: DlqContext, request: ChangeRequest): Promise<SingleBar | undefined> {
  if (request.json || !ctx.interactive) return undefined;
  const total = await countDeadLetters(ctx.js, ctx.jsm, ctx.target, request.selector);
  if (total === 0) return undefined;
  const verb = request.operation === "replay" ? "Replaying" : "Purging";
  const bar = new SingleBar({
    format: `${verb} [{bar}] {value}/{total} dead letters | {eta_formatted} left`,
    hideCursor: true,
  });
  bar.start(total, 0);
  return bar;
}

/**
 * Publishes one dead letter's events back (to events.ingest for the writer's, to its destination's replay
 * subject for a destination's) and waits for the PubAck.
 */
async function republish(ctx: DlqContext, record: DeadLetterRecord & { events: DeadLetterEvent[] }): Promise<void> {
  const { data, headers, msgID } = encodeReplay(record, ctx.target.stream);
  await ctx.js.publish(ctx.target.replaySubject, data, { msgID, headers });
}

/** Unreadable envelopes would only be dead-lettered again: a replay skips them; they can be inspected and purged. */
const skips = (request: ChangeRequest, letter: DeadLetterRecord) =>
  request.operation === "replay" && !isReadable(letter);

/** What a replay or purge would do, from one pass that keeps nothing but the counts. */
async function dryRun(ctx: DlqContext, request: ChangeRequest) {
  const { operation } = request;
  const tally = { operation, dry_run: true, messages: 0, events: 0, skipped: 0 };
  for await (const letter of readDeadLetters(ctx.js, ctx.jsm, ctx.target, request.selector)) {
    if (skips(request, letter)) {
      tally.skipped++;
      continue;
    }
    tally.messages++;
    tally.events += eventCount(letter);
  }
  if (request.json) {
    ctx.print(JSON.stringify(tally));
    return;
  }
  const unreadable = tally.skipped ? `; ${tally.skipped} unreadable skipped` : "";
  ctx.print(`Would ${operation} ${tally.messages} dead letters (${tally.events} events)${unreadable}.`);
}

/** Until SIGINT or SIGTERM asks the loop to stop after the dead letter at hand. */
function interruption(): { readonly interrupted: boolean; release(): void } {
  const state = { interrupted: false };
  const onSignal = () => {
    state.interrupted = true;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    get interrupted() {
      return state.interrupted;
    },
    release() {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
    },
  };
}

async function waitForRate(rate: number | undefined, started: number, events: number) {
  if (!rate) return;
  const due = started + (events / rate) * 1000;
  if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
}

/**
 * Replays (republishes, then deletes) or purges (deletes) one dead letter. It is deleted only once JetStream
 * holds its replay: an interruption anywhere leaves it to be replayed again, and storing by id makes that
 * harmless.
 */
async function change(ctx: DlqContext, operation: Operation, letter: DeadLetterRecord): Promise<void> {
  if (operation === "replay" && isReadable(letter)) {
    await republish(ctx, letter);
    ctx.afterRepublish?.();
  }
  await ctx.jsm.streams.deleteMessage(ctx.target.stream, letter.seq, false).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}

/** Acts on each dead letter as the reader streams it: one page in memory at a time, whatever the selection. */
async function apply(ctx: DlqContext, request: ChangeRequest, record: DlqOperation) {
  const started = Date.now();
  const bar = await progress(ctx, request);
  const signals = interruption();
  try {
    for await (const letter of readDeadLetters(ctx.js, ctx.jsm, ctx.target, request.selector)) {
      if (signals.interrupted) break;
      if (skips(request, letter)) {
        record.skipped++;
      } else {
        await change(ctx, request.operation, letter);
        record.messages++;
        record.events += eventCount(letter);
      }
      bar?.increment();
      await waitForRate(request.rate, started, record.events);
    }
    record.completed = !signals.interrupted;
  } finally {
    bar?.stop();
    signals.release();
    record.duration_ms = Date.now() - started;
    ctx.log.info({ dlqOperation: record }, `dlq ${request.operation}`);
    await recordOperation(ctx.js, ctx.target.auditSubject, record).catch((err: unknown) =>
      ctx.log.error({ err }, "could not record the operation in the audit stream"),
    );
  }
}

function printSummary(ctx: DlqContext, request: ChangeRequest, record: DlqOperation) {
  if (request.json) {
    ctx.print(JSON.stringify({ ...record, dry_run: false }));
    return;
  }
  const verb = request.operation === "replay" ? "Replayed" : "Purged";
  const skipped = record.skipped
    ? `; ${record.skipped} unreadable skipped (inspect with dlq show, remove with dlq purge)`
    : "";
  const interrupted = record.completed ? "" : "; interrupted: run it again to finish";
  ctx.print(
    `${verb} ${record.messages} dead letters (${record.events} events) in ${(record.duration_ms / 1000).toFixed(1)} s${skipped}${interrupted}.`,
  );
}

async function changeDeadLetters(context: () => Promise<DlqContext>, argv: string[], operation: Operation) {
  const request = parseRequest(operation, argv);
  const ctx = await context();
  if (request.dryRun) {
    await dryRun(ctx, request);
    if (request.unconfirmedPurge) throw new CliError("purge deletes for good: run it again with --yes", usageExit);
    return;
  }
  const { destination } = ctx.target;
  const record: DlqOperation = {
    ...(destination === undefined ? {} : { destination }),
    operation,
    selector: describeSelector(request.selector),
    messages: 0,
    events: 0,
    skipped: 0,
    by: operator(),
    at: new Date().toISOString(),
    duration_ms: 0,
    completed: false,
  };
  await apply(ctx, request, record);
  printSummary(ctx, request, record);
  if (!record.completed) throw new CliError("interrupted", 130);
}

export const replay: DlqAction = (context, argv) => changeDeadLetters(context, argv, "replay");
export const purge: DlqAction = (context, argv) => changeDeadLetters(context, argv, "purge");
