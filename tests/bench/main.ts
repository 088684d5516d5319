import os from "node:os";
import { createDb } from "@evpipe/db";
import { sql } from "kysely";
import { createTestPipeline, type TestPipeline } from "../support/pipeline.ts";
import { compareDestinations, type DestinationsComparison } from "./destinations.ts";
import { type MetricsCost, type MetricsMode, type ModeServices, measureMetricsCost } from "./metrics-cost.ts";
import { ingestPhase, loadGeneratorGroup, natsGroup, type PhaseOptions } from "./phase.ts";
import { peakRssBytes, pidsNamed, startCpuSampler } from "./process-stats.ts";
import { measureRawInsert, type RawInsertResult } from "./raw-insert.ts";
import { formatCount, formatMiB } from "./report.ts";
import { compareSegmentRoute } from "./segment-compare.ts";
import { benchEventsMaxBytes, startWatched, type WatchedService } from "./services.ts";
import { type BenchSettings, loadBenchSettings } from "./settings.ts";
import { destinationsSection, renderSummary } from "./summary.ts";
import { batchBody, singleBody } from "./workload.ts";

// `pnpm bench`: the end-to-end benchmark against real services on this machine. Durations, connection counts
// and sizes come from BENCH_* variables (settings.ts); `BENCH_DURATION_S=5 pnpm bench` is a quick smoke run.
const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);
/** Real failures (lost or extra events, a crashed service); a missed target is not one. */
const problems: string[] = [];
/** Undone in reverse order, whether the run succeeds, fails or is interrupted. */
const teardown: Array<() => Promise<unknown>> = [];
const interrupted = new AbortController();

let tearingDown: Promise<void> | undefined;

/** Runs once; a signal handler and the main flow may both ask for it and both wait for the same run. */
function runTeardown(): Promise<void> {
  tearingDown ??= (async () => {
    for (let step = teardown.pop(); step; step = teardown.pop()) {
      await step().catch((err: unknown) => progress(`cleanup failed: ${(err as Error).message}`));
    }
  })();
  return tearingDown;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping and cleaning up`);
    interrupted.abort();
    void runTeardown().finally(() => process.exit(130));
  });
}

function peakRss(watched: WatchedService, name: string): number | undefined {
  try {
    return peakRssBytes(watched.pid);
  } catch (err) {
    problems.push(`${name} peak RSS unreadable: ${(err as Error).message}`);
    return undefined;
  }
}

/** What the numbers depend on: the machine, and the versions and settings of the servers. */
async function describeEnvironment(pipeline: TestPipeline): Promise<string> {
  const { rows } = await sql<{ version: string; syncCommit: string; sharedBuffers: string }>`
    SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS "syncCommit",
      current_setting('shared_buffers') AS "sharedBuffers"`.execute(pipeline.db);
  const cpus = os.cpus();
  return (
    `evpipe end-to-end benchmark, everything on this machine: ${cpus.length} CPUs (${cpus[0]?.model ?? "unknown"}), ` +
    `${formatMiB(os.totalmem())} RAM, node ${process.version}, PostgreSQL ${rows[0]?.version} ` +
    `(synchronous_commit=${rows[0]?.syncCommit}, shared_buffers=${rows[0]?.sharedBuffers}), ` +
    `NATS ${pipeline.nc.info?.version ?? "unknown"}`
  );
}

async function rawInsertCeiling(rawPipeline: TestPipeline, settings: BenchSettings): Promise<RawInsertResult> {
  progress(`raw insert: ${formatCount(settings.rawEvents)} events on ${settings.rawConcurrency} connections`);
  const rawDb = createDb({
    url: rawPipeline.databaseUrl,
    maxConnections: settings.rawConcurrency,
    applicationName: "evpipe-bench-raw",
  });
  return measureRawInsert(rawDb, {
    events: settings.rawEvents,
    batchSize: settings.batchSize,
    concurrency: settings.rawConcurrency,
  }).finally(() => rawDb.destroy());
}

interface BenchServices {
  /** An ingest key for the load generator. */
  key: string;
  gateway: WatchedService;
  consumer: WatchedService;
}

/** Gateway and consumer on the bench pipeline, stopped at teardown; a crash during the run is a problem. */
async function startServices(pipeline: TestPipeline, extraEnv: Record<string, string> = {}): Promise<BenchServices> {
  progress(`starting gateway and consumer ${JSON.stringify(extraEnv)}`);
  // The bench measures the pipeline, not the per-key rate limit.
  const { key } = await pipeline.createKey(["ingest"], "bench", { rate: 1_000_000 });
  const env = pipeline.serviceEnv({ EVENTS_MAX_BYTES: benchEventsMaxBytes, ...extraEnv });
  const onExit = (message: string) => problems.push(message);
  const gateway = await startWatched("gateway", env, onExit);
  teardown.push(() => gateway.stop());
  const consumer = await startWatched("consumer", env, onExit);
  teardown.push(() => consumer.stop());
  return { key, gateway, consumer };
}

/** The batch phase; the warm-up and the single-event phase are variations of it. */
function batchPhaseOptions(settings: BenchSettings, { key, gateway, consumer }: BenchServices): PhaseOptions {
  return {
    label: "batch",
    gatewayUrl: gateway.service.url,
    apiKey: key,
    path: "/v1/events/batch",
    body: batchBody(settings.batchSize),
    eventsPerRequest: settings.batchSize,
    connections: settings.batchConnections,
    durationS: settings.batchDurationS,
    catchUpTimeoutS: settings.catchUpTimeoutS,
    cpuGroups: {
      gateway: () => [gateway.pid],
      consumer: () => [consumer.pid],
      [natsGroup]: () => pidsNamed("nats-server"),
      "postgres (all processes)": () => pidsNamed("postgres"),
      [loadGeneratorGroup]: () => [process.pid],
    },
    signal: interrupted.signal,
    progress,
  };
}

/** The machine's busy share over one second with the pipeline idle: other work that competes with the run. */
async function backgroundMachineBusy(): Promise<number> {
  const idle = startCpuSampler({});
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return idle.stop().machineBusy;
}

function serviceWarnings(services: Record<"gateway" | "consumer", WatchedService>): string[] {
  return Object.entries(services)
    .filter(([, watched]) => watched.warningCount > 0)
    .map(
      ([name, watched]) =>
        `${name} logged ${watched.warningCount} warnings or errors, e.g. ${watched.warnings.join(" | ")}`,
    );
}

/** A fresh pipeline with its own gateway and consumer at METRICS_ENABLED=on|off, warmed up. */
async function startMode(
  mode: MetricsMode,
  urls: { natsUrl: string; databaseUrl: string },
  settings: BenchSettings,
  base: PhaseOptions,
): Promise<ModeServices> {
  const pipeline = await createTestPipeline({ ...urls, namespacePrefix: `bench${mode}` });
  teardown.push(() => pipeline.cleanup());
  const services = await startServices(pipeline, { METRICS_ENABLED: String(mode === "on") });
  if (settings.warmupS > 0) {
    const warmup = await ingestPhase(pipeline, {
      ...base,
      label: `metrics ${mode} warm-up`,
      gatewayUrl: services.gateway.service.url,
      apiKey: services.key,
      durationS: settings.warmupS,
      cpuGroups: {},
    });
    problems.push(...warmup.problems);
  }
  return { mode, pipeline, ...services };
}

/**
 * The cost of metrics: two fresh pipelines whose services differ only in METRICS_ENABLED, then alternating
 * rounds (metrics-cost.ts). The main phases' services are stopped before, so they compete with nothing.
 */
async function metricsCostPhase(
  urls: { natsUrl: string; databaseUrl: string },
  settings: BenchSettings,
  base: PhaseOptions,
): Promise<MetricsCost | undefined> {
  if (settings.metricsRounds === 0) return undefined;
  const on = await startMode("on", urls, settings, base);
  const off = await startMode("off", urls, settings, base);
  const cost = await measureMetricsCost({ on, off }, settings, base);
  problems.push(...cost.problems);
  return cost;
}

/**
 * Destinations on a pipeline of their own, with a gateway and consumer of its own, warmed up: run after the main
 * services stopped, so they compete with nothing (destinations.ts). Undefined when skipped.
 */
async function destinationsPhase(
  urls: { natsUrl: string; databaseUrl: string },
  settings: BenchSettings,
  given?: TestPipeline,
): Promise<{ comparison: DestinationsComparison | undefined; warnings: string[] }> {
  if (settings.destinationsDurationS === 0 || settings.destinationsRounds === 0) {
    return { comparison: undefined, warnings: [] };
  }
  const pipeline = given ?? (await createTestPipeline({ ...urls, namespacePrefix: "benchdest" }));
  if (!given) teardown.push(() => pipeline.cleanup());
  const services = await startServices(pipeline);
  const base = batchPhaseOptions(settings, services);
  if (settings.warmupS > 0) {
    const warmup = await ingestPhase(pipeline, { ...base, label: "destinations warm-up", durationS: settings.warmupS });
    problems.push(...warmup.problems);
  }
  const comparison = await compareDestinations({ pipeline, base, settings, teardown, problems });
  await Promise.all([services.gateway.stop(), services.consumer.stop()]);
  const warnings = serviceWarnings({ gateway: services.gateway, consumer: services.consumer });
  return { comparison, warnings: warnings.map((warning) => `destinations ${warning}`) };
}

/** BENCH_ONLY=destinations: the machine, then the destinations comparison alone. */
async function destinationsOnly(urls: { natsUrl: string; databaseUrl: string }, settings: BenchSettings) {
  const pipeline = await createTestPipeline({ ...urls, namespacePrefix: "benchdest" });
  teardown.push(() => pipeline.cleanup());
  const environment = await describeEnvironment(pipeline);
  const { comparison, warnings } = await destinationsPhase(urls, settings, pipeline);
  await runTeardown();
  return [environment, ...destinationsSection(settings, comparison), ...warnings].join("\n");
}

async function main(): Promise<string> {
  const settings = loadBenchSettings(process.env);
  const urls = { natsUrl: settings.natsUrl, databaseUrl: settings.databaseUrl };
  if (settings.only === "destinations") return destinationsOnly(urls, settings);

  progress("creating the bench namespaces and databases");
  const pipeline = await createTestPipeline({ ...urls, namespacePrefix: "bench" });
  teardown.push(() => pipeline.cleanup());
  const rawPipeline = await createTestPipeline({ ...urls, namespacePrefix: "benchraw" });
  teardown.push(() => rawPipeline.cleanup());

  const environment = await describeEnvironment(pipeline);
  const raw = await rawInsertCeiling(rawPipeline, settings);
  const services = await startServices(pipeline);
  const { gateway, consumer } = services;
  const batchOptions = batchPhaseOptions(settings, services);

  if (settings.warmupS > 0) {
    const warmup = await ingestPhase(pipeline, { ...batchOptions, label: "warm-up", durationS: settings.warmupS });
    problems.push(...warmup.problems);
  }
  await sql`CHECKPOINT`.execute(pipeline.db);
  const backgroundBusy = await backgroundMachineBusy();

  const batch = await ingestPhase(pipeline, batchOptions);
  problems.push(...batch.problems);
  const single = await ingestPhase(pipeline, {
    ...batchOptions,
    label: "single",
    path: "/v1/events",
    body: singleBody(),
    eventsPerRequest: 1,
    connections: settings.singleConnections,
    durationS: settings.singleDurationS,
  });
  problems.push(...single.problems);
  const segment = await compareSegmentRoute(pipeline, settings, batchOptions, batch, problems);

  const gatewayPeakRss = peakRss(gateway, "gateway");
  const consumerPeakRss = peakRss(consumer, "consumer");
  await Promise.all([gateway.stop(), consumer.stop()]);
  const destinations = await destinationsPhase(urls, settings);
  const metricsCost = await metricsCostPhase(urls, settings, batchOptions);
  progress("stopping services and dropping the bench databases");
  await runTeardown();

  const summary = renderSummary({
    settings,
    environment,
    backgroundBusy,
    raw,
    batch,
    single,
    gatewayPeakRss,
    consumerPeakRss,
    metricsCost,
    segment,
    destinations: destinations.comparison,
    cpuGroups: Object.keys(batchOptions.cpuGroups),
    cpuCount: os.cpus().length,
  });
  return [summary, ...serviceWarnings({ gateway, consumer }), ...destinations.warnings].join("\n");
}

try {
  process.stdout.write(`${await main()}\n`);
} catch (err) {
  // After a signal the main flow fails on closed connections; that is not a finding.
  if (!interrupted.signal.aborted) problems.push(`bench failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  await runTeardown();
}
if (interrupted.signal.aborted) process.exit(130);
if (problems.length > 0) {
  process.stdout.write(`\nFAILED:\n${problems.map((problem) => `  ${problem}`).join("\n")}\n`);
  process.exit(1);
}
process.exit(0);
