import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { type BatchAccepted, postJson } from "./http.ts";
import type { TestPipeline } from "./pipeline.ts";
import type { PipelineServices } from "./pipeline-services.ts";
import { type LogLine, type OpsResult, type RunningService, runOps, startService } from "./processes.ts";
import { type SinkScript, startVendorSink, type VendorFormat, type VendorSink } from "./vendor-sink.ts";
import { waitFor } from "./wait-for.ts";

/** A DESTINATION_SECRETS_KEY of the file's own: 32 random bytes in base64, as `openssl rand -base64 32` makes. */
export const newSecretsKey = () => randomBytes(32).toString("base64");

export interface DestinationOptions {
  type: VendorFormat;
  url: string;
  secret: string;
  events?: string[];
  rate?: number;
  /** `--from`: the time its consumer starts reading from. */
  from?: string;
}

/** One row of `destinations list --json`. */
export interface DestinationRow {
  name: string;
  type: string;
  url: string;
  paused: boolean;
  lag: number | null;
  delivered: number;
  failed: number;
  retried: number;
  last_success_at: string | null;
  last_error: { at: string; message: string } | null;
  [field: string]: unknown;
}

/** One event of `destinations dlq NAME list --json`, as `dlq list --json` shows the writer's. */
export interface DestinationDeadLetterRow {
  seq: number;
  reason: string;
  code: string;
  attempts: number;
  event_id: string;
  [field: string]: unknown;
}

/** The environment `pnpm ops destinations` runs with against one pipeline; `extra` over it. */
export function destinationsOpsEnv(pipeline: TestPipeline, secretsKey: string, extra: Record<string, string> = {}) {
  return {
    NATS_URL: pipeline.natsUrl,
    NATS_NAMESPACE: pipeline.namespace,
    DATABASE_URL: pipeline.databaseUrl,
    DESTINATION_SECRETS_KEY: secretsKey,
    LOG_LEVEL: "warn",
    ...extra,
  };
}

/** A PostgreSQL nobody listens on: `ops destinations` must not need one. */
export const noDatabase = { DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" };

/** `pnpm ops destinations ...` against one pipeline, every command expected to succeed. */
export function destinationsCli(pipeline: TestPipeline, secretsKey: string) {
  const env = destinationsOpsEnv(pipeline, secretsKey);
  const run = (args: string[]): Promise<OpsResult> => runOps(["destinations", ...args], env);
  const succeed = async (args: string[]): Promise<string> => {
    const result = await run(args);
    if (result.code !== 0) {
      throw new Error(`destinations ${args.join(" ")} exited ${result.code}: ${result.stderr}${result.stdout}`);
    }
    return result.stdout;
  };
  const json = async <T>(args: string[]): Promise<T> => {
    const stdout = await succeed([...args, "--json"]);
    try {
      return JSON.parse(stdout) as T;
    } catch {
      throw new Error(`destinations ${args.join(" ")} --json printed no JSON: ${stdout}`);
    }
  };
  return {
    env,
    run,
    async add(name: string, options: DestinationOptions): Promise<void> {
      const args = ["add", name, "--type", options.type, "--url", options.url, "--secret", options.secret];
      if (options.events) args.push("--events", options.events.join(","));
      if (options.rate !== undefined) args.push("--rate", String(options.rate));
      if (options.from) args.push("--from", options.from);
      await succeed(args);
    },
    pause: (name: string) => succeed(["pause", name]),
    resume: (name: string) => succeed(["resume", name]),
    remove: (name: string) => succeed(["remove", name]),
    list: () => json<DestinationRow[]>(["list"]),
    dlqList: (name: string) => json<DestinationDeadLetterRow[]>(["dlq", name, "list"]),
    dlqReplay: (name: string) =>
      json<{ messages: number; events: number; [field: string]: unknown }>(["dlq", name, "replay", "--all"]),
  };
}
export type DestinationsCli = ReturnType<typeof destinationsCli>;

/** The forwarder's environment in tests: short retries, frequent samples and status writes. */
export function forwarderEnv(pipeline: TestPipeline, secretsKey: string, extra: Record<string, string> = {}) {
  return pipeline.serviceEnv({
    DESTINATION_SECRETS_KEY: secretsKey,
    RETRY_DELAY_UNIT_MS: "50",
    METRICS_SAMPLE_INTERVAL_MS: "200",
    STATUS_FLUSH_MS: "200",
    DELIVERY_TIMEOUT_MS: "5000",
    ...extra,
  });
}

/** A log line printed after the first `mark` lines (a mark taken before the action that should print it). */
export function logAfter(
  service: RunningService,
  mark: number,
  what: string,
  predicate: (line: LogLine) => boolean,
  timeoutMs = 20_000,
): Promise<LogLine> {
  return service.waitForLog(what, (line, index) => index >= mark && predicate(line), timeoutMs);
}

export const destinationLog = (msg: string, name: string) => (line: LogLine) =>
  line.msg === msg && line.destination === name;

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample of a Prometheus text exposition (`name{a="b"} value`). */
export async function scrape(baseUrl: string): Promise<MetricSample[]> {
  const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const samples: MetricSample[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = value as string;
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample of `name` whose labels include `labels`, or undefined. */
export async function metricValue(
  baseUrl: string,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const samples = (await scrape(baseUrl)).filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (samples.length > 1) throw new Error(`${samples.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return samples[0]?.value;
}

/** Until the metric equals `expected`; the last value seen is in the failure. */
export async function metricReaches(
  baseUrl: string,
  name: string,
  labels: Record<string, string>,
  expected: (value: number | undefined) => boolean,
  timeoutMs = 15_000,
): Promise<number | undefined> {
  let last: number | undefined;
  await waitFor(
    `${name}${JSON.stringify(labels)}`,
    async () => {
      last = await metricValue(baseUrl, name, labels);
      if (!expected(last)) throw new Error(`it is ${last}`);
      return true;
    },
    { timeoutMs, intervalMs: 100 },
  );
  return last;
}

/**
 * Sends `batches` batches of `size` events to /v1/events/batch, `concurrency` requests at a time; returns the
 * accepted ids in the order of the answers.
 */
export async function sendBatches(
  gatewayUrl: string,
  key: string,
  options: { batches: number; size: number; concurrency?: number; event?: (i: number) => string },
): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < options.batches) {
      const batch = next++;
      const events = Array.from({ length: options.size }, (_, i) => ({
        event: options.event?.(batch * options.size + i) ?? `load-${i % 5}`,
        user_id: `user-${batch}-${i}`,
        metadata: { batch, i },
      }));
      const res = await postJson<BatchAccepted>(gatewayUrl, "/v1/events/batch", { events }, { "x-api-key": key });
      if (res.status !== 202) throw new Error(`batch ${batch}: ${res.status} ${JSON.stringify(res.body)}`);
      ids.push(...res.body.ids);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  return ids;
}

/**
 * A file's destinations: a secrets key, the CLI, the forwarder process (started in beforeAll, stopped in
 * afterAll, before the pipeline is removed) and the sinks it made (closed in afterAll).
 */
export function useDestinations(services: PipelineServices, env: Record<string, string> = {}) {
  const secretsKey = newSecretsKey();
  const sinks: VendorSink[] = [];
  const forwarders: RunningService[] = [];
  let cli: DestinationsCli | undefined;

  const startForwarder = async (extra: Record<string, string> = {}) => {
    const forwarder = await startService(
      "forwarder",
      forwarderEnv(services.pipeline, secretsKey, { ...env, ...extra }),
    );
    forwarders.push(forwarder);
    return forwarder;
  };

  beforeAll(async () => {
    cli = destinationsCli(services.pipeline, secretsKey);
    await startForwarder();
  });

  afterAll(async () => {
    await Promise.all(forwarders.map((forwarder) => forwarder.stop()));
    await Promise.all(sinks.map((sink) => sink.close()));
  });

  const context = {
    secretsKey,
    get cli(): DestinationsCli {
      if (!cli) throw new Error("useDestinations makes the CLI in beforeAll");
      return cli;
    },
    /** The forwarder started last. */
    get forwarder(): RunningService {
      const last = forwarders.at(-1);
      if (!last) throw new Error("useDestinations starts the forwarder in beforeAll");
      return last;
    },
    /** Every forwarder the file started, the last one running. */
    forwarders,
    startForwarder,
    async sink(format: VendorFormat, script?: SinkScript): Promise<VendorSink> {
      const sink = await startVendorSink(format, script);
      sinks.push(sink);
      return sink;
    },
    /** Adds a destination with the CLI and waits until the forwarder says its consumer runs. */
    async add(name: string, options: DestinationOptions): Promise<void> {
      const mark = context.forwarder.lines.length;
      await context.cli.add(name, options);
      await logAfter(
        context.forwarder,
        mark,
        `destination ${name} started`,
        destinationLog("destination started", name),
      );
    },
  };
  return context;
}
