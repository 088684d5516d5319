import { parseArgs } from "node:util";
import {
  type DestinationRecord,
  type DestinationType,
  destinationTypes,
  destinationUrl,
  readDestination,
  redactSecret,
  sealSecret,
} from "@evpipe/shared";
import * as v from "valibot";
import { CliError, usageExit } from "../cli-error.ts";
import { parseTime } from "../dlq/selector.ts";
import { parseName, requireSecretsKey } from "./arguments.ts";
import type { DestinationsAction } from "./context.ts";
import { destinationView, encodeRecord, ensureDestinationStreams, isWrongLastSequence } from "./records.ts";

export const addUsage =
  "pnpm ops destinations add NAME --type webhook|segment|posthog|mixpanel --url URL --secret S [--events a,b] [--rate N] [--from T] [--json]";

/** What --secret is for each type (PRODUCT.md §6). Every type needs one: a webhook's signs its requests. */
const credentials: Record<DestinationType, string> = {
  segment: "the Segment write key",
  posthog: "the PostHog project API key",
  mixpanel: "the Mixpanel project token",
  webhook: "the webhook signing secret (receivers verify X-Evpipe-Signature with it)",
};

function parseType(value: string | undefined): DestinationType {
  const known = destinationTypes as readonly string[];
  if (value === undefined) throw new CliError(`--type is required: one of ${known.join(", ")}`, usageExit);
  if (!known.includes(value)) throw new CliError(`--type must be one of ${known.join(", ")}`, usageExit);
  return value as DestinationType;
}

function parseUrl(value: string | undefined): string {
  if (value === undefined)
    throw new CliError("--url is required: the vendor's base URL, http:// or https://", usageExit);
  // The URL is not echoed: it may carry credentials.
  const parsed = v.safeParse(destinationUrl, value);
  if (!parsed.success) throw new CliError(`--url ${parsed.issues[0].message}`, usageExit);
  return value;
}

function parseSecret(type: DestinationType, value: string | undefined): string {
  if (!value) throw new CliError(`--secret is required for a ${type} destination: ${credentials[type]}`, usageExit);
  return value;
}

// The event names PRODUCT.md §3 accepts: 1 to 128 characters, no control characters.
const eventName = /^[^\p{Cc}]{1,128}$/u;

function parseEvents(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(",").map((name) => name.trim());
  if (names.some((name) => !eventName.test(name))) {
    throw new CliError("--events must be a comma-separated list of event names (1 to 128 characters each)", usageExit);
  }
  return [...new Set(names)];
}

function parseRate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const rate = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!(rate >= 0.01 && rate <= 1_000_000)) {
    throw new CliError("--rate must be a number of requests per second from 0.01 to 1000000", usageExit);
  }
  return rate;
}

function parseFrom(value: string | undefined, now: Date): Date {
  if (value === undefined) return now;
  const from = parseTime("from", value, now.getTime());
  if (from > now) throw new CliError("--from must not be in the future", usageExit);
  return from;
}

/** The new destination's record, its secret sealed, from arguments checked before anything is connected. */
function parseAddition(argv: string[], secretsKey: string | undefined, now: Date) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      type: { type: "string" },
      url: { type: "string" },
      secret: { type: "string" },
      events: { type: "string" },
      rate: { type: "string" },
      from: { type: "string" },
      json: { type: "boolean" },
    },
  });
  if (positionals.length !== 1) throw new CliError(`usage: ${addUsage}`, usageExit);
  const name = parseName(positionals[0], addUsage);
  const type = parseType(values.type);
  const url = parseUrl(values.url);
  const secret = parseSecret(type, values.secret);
  const events = parseEvents(values.events);
  const rate = parseRate(values.rate);
  const from = parseFrom(values.from, now);
  const key = requireSecretsKey(secretsKey);
  const record: DestinationRecord = {
    name,
    type,
    url,
    secret: sealSecret(key, name, secret),
    ...(events === undefined ? {} : { events }),
    ...(rate === undefined ? {} : { rate }),
    paused: false,
    created_at: now.toISOString(),
    // Its consumer starts here, so what is accepted before the forwarder notices the destination is not missed.
    start_at: from.toISOString(),
  };
  return { record, redacted: redactSecret(secret), json: values.json ?? false };
}

const duplicate = (name: string) =>
  new CliError(`a destination named ${name} already exists (pnpm ops destinations remove ${name} first)`, usageExit);

export const add: DestinationsAction = async (deps, argv) => {
  const { record, redacted, json } = parseAddition(argv, deps.secretsKey, new Date());
  const ctx = await deps.connect();
  if (await readDestination(ctx.destinations, record.name)) throw duplicate(record.name);
  await ensureDestinationStreams(ctx.jsm, ctx.names, ctx.streamSettings);
  // create, not put: of two adds of one name at once, one wins and the other is told.
  await ctx.destinations.create(record.name, encodeRecord(record)).catch((err: unknown) => {
    throw isWrongLastSequence(err) ? duplicate(record.name) : err;
  });
  const view = destinationView(record, redacted);
  if (json) {
    deps.print(JSON.stringify(view));
    return;
  }
  const events = view.events ? `events ${view.events.join(", ")}` : "every event";
  const rate = view.rate === null ? "no rate limit" : `at most ${view.rate} requests/s`;
  deps.print(`Added destination ${view.name}: ${view.type} to ${view.url}, secret ${view.secret}.`);
  deps.print(`It forwards ${events} accepted since ${view.start_at}, ${rate}.`);
};
