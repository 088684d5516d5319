import { parseArgs } from "node:util";
import {
  type DestinationHealth,
  type DestinationRecord,
  openSecret,
  readDestinationsHealth,
  redactSecret,
  SecretUnsealable,
} from "@evpipe/shared";
import { formatTable } from "../table.ts";
import { optionalSecretsKey } from "./arguments.ts";
import type { DestinationsAction } from "./context.ts";
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

function row({ record, lag, status, deadLetters }: DestinationHealth, key: Uint8Array | undefined) {
  return {
    ...destinationView(record, shownSecret(key, record)),
    lag,
    delivered: status?.delivered ?? 0,
    failed: status?.failed ?? 0,
    retried: status?.retried ?? 0,
    last_success_at: status?.last_success_at ?? null,
    last_error: status?.last_error ?? null,
    status_updated_at: status?.updated_at ?? null,
    dead_letters: deadLetters,
  };
}

type Row = ReturnType<typeof row>;

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
  const health = await readDestinationsHealth({ ...ctx, eventsStream: ctx.natsNames.eventsStream });
  const rows = health.map((destination) => row(destination, key));
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
