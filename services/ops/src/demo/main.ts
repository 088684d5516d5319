import { parseArgs } from "node:util";
import {
  generateApiKey,
  integerVar,
  type NatsAuth,
  namespaceVar,
  natsAuthEnv,
  natsAuthFrom,
  natsNames,
  natsUrlVar,
  openKeysBucket,
  parseEnv,
  storeKeyRecord,
} from "@evpipe/shared";
import { CliError, reportCliFailure, usageExit } from "../cli-error.ts";
import { connectOnce } from "../nats-connect.ts";
import { type DemoSummary, planDemo, summarize } from "./generate.ts";
import { sendEvents } from "./send.ts";

const usage = `usage: pnpm demo [--days N] [--users N] [--events N] [--seed N] [--url URL] [--key KEY] [--json]
Loads N days (default 7, ending today, UTC) of realistic events into a running system through the gateway's
API. Without --key (or DEMO_API_KEY) it creates a key with scopes ingest,read in NATS_URL's key bucket, as
the ops user on a NATS that requires credentials (NATS_USER and NATS_PASSWORD, or another NATS_* credential).`;

function wholeNumber(option: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > max) {
    throw new CliError(`--${option} must be a whole number from 1 to ${max}`, usageExit);
  }
  return number;
}

/** A key with scopes ingest and read, made exactly as `pnpm ops keys create` makes one. */
async function createDemoKey(
  nats: { url: string; auth: NatsAuth | undefined },
  namespace: string | undefined,
): Promise<{ id: string; key: string }> {
  const nc = await connectOnce(nats.url, nats.auth, "evpipe-demo", " to create a key");
  try {
    const { key, record } = generateApiKey({ name: "demo", scopes: ["ingest", "read"] });
    await storeKeyRecord(await openKeysBucket(nc.jetstream(), natsNames(namespace).keysBucket), record);
    return { id: record.id, key };
  } finally {
    await nc.drain();
  }
}

function printReport(summary: DemoSummary, run: { url: string; key: string; keyId?: string; seconds: number }) {
  const print = (line = "") => process.stdout.write(`${line}\n`);
  const range = `from=${summary.from}&to=${summary.to}`;
  if (run.keyId) print(`Created key ${run.keyId} "demo" with scopes ingest, read.`);
  print(
    `Sent ${summary.events} events from ${summary.users} users, ${summary.from} to ${summary.to} (UTC days), ` +
      `to ${run.url} in ${run.seconds.toFixed(1)} s.`,
  );
  print(`Daily active users sent: ${summary.dau.map((row) => `${row.day.slice(5)} ${row.users}`).join(", ")}`);
  print(
    `Top events sent: ${summary.topEvents
      .slice(0, 5)
      .map((row) => `${row.event} ${row.count}`)
      .join(", ")}`,
  );
  print("The consumer stores them within seconds. Then:");
  print();
  print(`KEY=${run.key}`);
  print(`curl -H "X-API-Key: $KEY" "${run.url}/v1/stats/dau?${range}"`);
  print(`curl -H "X-API-Key: $KEY" "${run.url}/v1/stats/top-events?${range}&limit=10"`);
  print(`curl -H "X-API-Key: $KEY" "${run.url}/v1/stats/retention?${range}&days=${summary.dau.length}"`);
  print();
  print(`Or open ${run.url}/dashboard and enter the key in its "API key" field.`);
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      days: { type: "string" },
      users: { type: "string" },
      events: { type: "string" },
      seed: { type: "string" },
      url: { type: "string" },
      key: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const env = parseEnv(
    { NATS_URL: natsUrlVar, ...natsAuthEnv, NATS_NAMESPACE: namespaceVar, PORT: integerVar(8080, 1, 65535) },
    process.env,
  );
  const size = {
    days: wholeNumber("days", values.days, 7, 90),
    users: wholeNumber("users", values.users, 500, 100_000),
    events: wholeNumber("events", values.events, 20_000, 2_000_000),
    seed: wholeNumber("seed", values.seed, Math.floor(Math.random() * 2 ** 31), 2 ** 31),
    now: new Date(),
  };
  const url = (values.url ?? `http://127.0.0.1:${env.PORT}`).replace(/\/+$/, "");
  const given = values.key ?? process.env.DEMO_API_KEY;
  const nats = { url: env.NATS_URL, auth: natsAuthFrom(env) };
  const created = given ? undefined : await createDemoKey(nats, env.NATS_NAMESPACE);
  const key = given ?? (created as { key: string }).key;

  const plan = planDemo(size);
  const started = performance.now();
  const progress = process.stderr.isTTY && !values.json;
  await sendEvents(plan.events, {
    baseUrl: url,
    key,
    batchSize: 500,
    concurrency: 4,
    keyIsNew: created !== undefined,
    ...(progress ? { onProgress: (sent) => process.stderr.write(`\rsent ${sent}/${plan.events.length} events`) } : {}),
  });
  if (progress) process.stderr.write("\n");
  const summary = summarize(plan);
  const seconds = (performance.now() - started) / 1000;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ...summary, url, key, keyId: created?.id ?? null, seed: size.seed })}\n`);
  } else {
    printReport(summary, { url, key, seconds, ...(created ? { keyId: created.id } : {}) });
  }
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  if (!reportCliFailure("demo", err)) throw err;
}
