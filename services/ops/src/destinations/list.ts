import { parseArgs } from "node:util";
import {
  type DestinationRecord,
  type DestinationStatus,
  isNotFound,
  listDestinations,
  openSecret,
  parseDestinationStatus,
  redactSecret,
  SecretUnsealable,
} from "@evpipe/shared";
import { formatTable } from "../table.ts";
import { optionalSecretsKey } from "./arguments.ts";
import type { DestinationsAction, DestinationsContext } from "./context.ts";
import { destinationView } from "./records.ts";

/** What `list` shows of a secret: its end when the key opens it, or why it cannot. */
function shownSecret(key: Uint8Array | undefined, record: DestinationRecord): string {
  if (!key) return "****";
  try {
    return redactSecret(openSecret(key, record.name, record.secret));
  } catch (err) {
    if (err instanceof SecretUnsealable) return "(does not open with this DESTINATION_SECRETS_KEY)";
    throw err;
  }
}

/** Messages a consumer has yet to deliver or see acknowledged; undefined when it does not exist (yet). */
async function backlog(ctx: DestinationsContext, stream: string, consumer: string): Promise<number | undefined> {
  const info = await ctx.jsm.consumers.info(stream, consumer).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  return info && info.num_pending + info.num_ack_pending;
}

/** EVENTS still to deliver plus replays waiting; null until the forwarder has made the destination's consumer. */
async function lag(ctx: DestinationsContext, name: string): Promise<number | null> {
  const consumer = ctx.names.consumer(name);
  const events = await backlog(ctx, ctx.natsNames.eventsStream, consumer);
  if (events === undefined) return null;
  return events + ((await backlog(ctx, ctx.names.replayStream, consumer)) ?? 0);
}

/** Dead letters waiting per DLQ subject, from one stream info. */
async function deadLettersBySubject(ctx: DestinationsContext): Promise<Record<string, number>> {
  const info = await ctx.jsm.streams
    .info(ctx.names.dlqStream, { subjects_filter: ctx.names.dlqSubjects })
    .catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
  return info?.state.subjects ?? {};
}

async function status(ctx: DestinationsContext, name: string): Promise<DestinationStatus | undefined> {
  const entry = await ctx.status.get(name);
  if (entry?.operation !== "PUT") return undefined;
  try {
    return parseDestinationStatus(entry.value);
  } catch {
    // Written by a forwarder of another version: shown as no report rather than failing the whole list.
    return undefined;
  }
}

async function row(ctx: DestinationsContext, record: DestinationRecord, key: Uint8Array | undefined, dead: number) {
  const report = await status(ctx, record.name);
  return {
    ...destinationView(record, shownSecret(key, record)),
    lag: await lag(ctx, record.name),
    delivered: report?.delivered ?? 0,
    failed: report?.failed ?? 0,
    retried: report?.retried ?? 0,
    last_success_at: report?.last_success_at ?? null,
    last_error: report?.last_error ?? null,
    status_updated_at: report?.updated_at ?? null,
    dead_letters: dead,
  };
}

type Row = Awaited<ReturnType<typeof row>>;

const shorten = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

function printTable(print: (line: string) => void, rows: Row[]) {
  const cells = rows.map((r) => [
    r.name,
    r.type,
    r.url,
    r.paused ? "paused" : "active",
    r.events?.join(",") ?? "all",
    r.rate === null ? "-" : `${r.rate}/s`,
    r.lag === null ? "-" : String(r.lag),
    String(r.delivered),
    String(r.failed),
    String(r.retried),
    r.last_success_at ?? "never",
    r.last_error ? shorten(`${r.last_error.at} ${r.last_error.message}`, 80) : "-",
    String(r.dead_letters),
    r.secret,
  ]);
  const header = ["NAME", "TYPE", "URL", "STATE", "EVENTS", "RATE", "LAG", "DELIVERED", "FAILED", "RETRIED"];
  for (const line of formatTable([...header, "LAST SUCCESS", "LAST ERROR", "DEAD LETTERS", "SECRET"], cells))
    print(line);
}

export const list: DestinationsAction = async (deps, argv) => {
  const { values } = parseArgs({ args: argv, options: { json: { type: "boolean" } } });
  // Without the key (or with a wrong one) the list still shows everything but the secrets' ends.
  const key = optionalSecretsKey(deps.secretsKey);
  const ctx = await deps.connect();
  const records = await listDestinations(ctx.destinations);
  const dead = await deadLettersBySubject(ctx);
  const rows: Row[] = [];
  for (const record of records) rows.push(await row(ctx, record, key, dead[ctx.names.dlqSubject(record.name)] ?? 0));
  if (values.json) {
    deps.print(JSON.stringify(rows));
    return;
  }
  if (rows.length === 0) {
    deps.print("No destinations yet: pnpm ops destinations add NAME --type webhook --url URL --secret S");
    return;
  }
  printTable(deps.print, rows);
};
