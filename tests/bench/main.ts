import os from "node:os";
import { createDb } from "@evpipe/db";
import { createTestPipeline, type TestPipeline } from "../support/pipeline.ts";
import { type ClusterComparison, compareReplication } from "./cluster.ts";
import { clusterSection } from "./cluster-report.ts";
import { compareDestinations, type DestinationsComparison } from "./destinations.ts";
import { measureDirectWrite } from "./direct-write.ts";
import { measureDisk, walBytesSince, walPosition } from "./disk.ts";
import { backgroundMachineBusy, describeEnvironment, natsBinaryVersion } from "./machine.ts";
import { type MetricsCost, type MetricsMode, type ModeServices, measureMetricsCost } from "./metrics-cost.ts";
import type { PhaseOptions } from "./phase.ts";
import { compareSegmentRoute } from "./segment-compare.ts";
import { type BenchRun, batchPhaseOptions, serviceWarnings, startBenchServices, warmUp } from "./services.ts";
import { type BenchSettings, loadBenchSettings } from "./settings.ts";
import { destinationsSection, renderSummary } from "./summary.ts";
import {
  loadPhases,
  peakRss,
  servicesProfiles,
  startProfiledServices,
  throughputOnly,
  warmUpPhase,
  workloadLine,
} from "./throughput.ts";
import { benchWorkload } from "./workload.ts";

// `pnpm bench`: the end-to-end benchmark against real services on this machine. Durations, connection counts
// and sizes come from BENCH_* variables (settings.ts); `BENCH_DURATION_S=5 pnpm bench` is a quick smoke run.
const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);
/** Real failures (lost or extra events, a crashed service); a missed target is not one. */
const problems: string[] = [];
/** Undone in reverse order, whether the run succeeds, fails or is interrupted. */
const teardown: Array<() => Promise<unknown>> = [];
const interrupted = new AbortController();
const run: BenchRun = { problems, teardown, signal: interrupted.signal, progress };

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

/** A fresh pipeline with its own gateway and consumer at METRICS_ENABLED=on|off, warmed up. */
async function startMode(
  mode: MetricsMode,
  urls: { natsUrl: string; databaseUrl: string },
  settings: BenchSettings,
  base: PhaseOptions,
): Promise<ModeServices> {
  const pipeline = await createTestPipeline({ ...urls, namespacePrefix: `bench${mode}` });
  teardown.push(() => pipeline.cleanup());
  const services = await startBenchServices(run, pipeline, { METRICS_ENABLED: String(mode === "on") });
  const options = { ...base, gatewayUrl: services.gateway.service.url, apiKey: services.key, cpuGroups: {} };
  await warmUp(run, pipeline, { ...options, label: `metrics ${mode} warm-up` }, settings.warmupS);
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
  const services = await startBenchServices(run, pipeline);
  const base = batchPhaseOptions(run, settings, services);
  await warmUp(run, pipeline, { ...base, label: "destinations warm-up" }, settings.warmupS);
  const comparison = await compareDestinations({ pipeline, base, settings, teardown, problems });
  await Promise.all([services.gateway.stop(), services.consumer.stop()]);
  const warnings = serviceWarnings({ gateway: services.gateway, consumer: services.consumer });
  return { comparison, warnings: warnings.map((warning) => `destinations ${warning}`) };
}

/** BENCH_ONLY=destinations: the machine, then the destinations comparison alone. */
async function destinationsOnly(urls: { natsUrl: string; databaseUrl: string }, settings: BenchSettings) {
  const pipeline = await createTestPipeline({ ...urls, namespacePrefix: "benchdest" });
  teardown.push(() => pipeline.cleanup());
  const environment = await describeEnvironment(pipeline.db, pipeline.nc.info?.version);
  const { comparison, warnings } = await destinationsPhase(urls, settings, pipeline);
  await runTeardown();
  return [environment, ...destinationsSection(settings, comparison), ...warnings].join("\n");
}

/** Replication on a private single node and a three-node cluster (cluster.ts). Undefined when skipped. */
function clusterPhase(settings: BenchSettings): Promise<ClusterComparison | undefined> {
  if (settings.clusterDurationS === 0 || settings.clusterRounds === 0) return Promise.resolve(undefined);
  return compareReplication(run, settings);
}

/** The machine, described over a connection of its own to the server's default database. */
async function describeMachine(settings: BenchSettings, natsVersion: string | undefined): Promise<string> {
  const db = createDb({ url: settings.databaseUrl, maxConnections: 1, applicationName: "evpipe-bench" });
  teardown.push(() => db.destroy());
  return describeEnvironment(db, natsVersion);
}

/** BENCH_ONLY=cluster: the machine, then the replication comparison alone, on NATS servers of its own. */
async function clusterOnly(settings: BenchSettings) {
  const environment = await describeMachine(settings, natsBinaryVersion());
  const comparison = await clusterPhase(settings);
  await runTeardown();
  return [environment, ...clusterSection(settings, comparison)].join("\n");
}

async function main(): Promise<string> {
  const settings = loadBenchSettings(process.env);
  const urls = { natsUrl: settings.natsUrl, databaseUrl: settings.databaseUrl };
  if (settings.only === "destinations") return destinationsOnly(urls, settings);
  const workload = benchWorkload(settings);
  progress(workloadLine(settings, workload));
  if (settings.only === "throughput")
    return throughputOnly(run, settings, await describeMachine(settings, natsBinaryVersion()));
  if (settings.only === "cluster") return clusterOnly(settings);

  progress("creating the bench namespace and database");
  const pipeline = await createTestPipeline({ ...urls, namespacePrefix: "bench" });
  teardown.push(() => pipeline.cleanup());

  const environment = await describeEnvironment(pipeline.db, pipeline.nc.info?.version);
  const services = await startProfiledServices(run, pipeline, settings);
  const { gateway, consumer } = services;
  const batchOptions = batchPhaseOptions(run, settings, services);

  const walStart = await walPosition(pipeline.db);
  const warmup = await warmUpPhase(run, pipeline, settings, { ...batchOptions, label: "main" });
  const backgroundBusy = await backgroundMachineBusy();
  const phases = await loadPhases(run, pipeline, settings, batchOptions, workload);
  // Warm-up, batch and single events only: the Segment routes' events are larger.
  const disk = await measureDisk(pipeline.db, "main phases", { bytes: await walBytesSince(pipeline.db, walStart) });
  const segment = await compareSegmentRoute(pipeline, settings, batchOptions, phases.batch, problems);

  const gatewayPeakRss = peakRss(run, gateway, "gateway");
  const consumerPeakRss = peakRss(run, consumer, "consumer");
  await Promise.all([gateway.stop(), consumer.stop()]);
  const profiles = servicesProfiles(settings, services, "main");
  // The limit, once the services are stopped: as many events as the warm-up and the batch phase stored.
  const sizes = { events: phases.batch.storedEvents, warmupEvents: warmup.storedEvents };
  const store = await measureDirectWrite(run, settings, workload, { write: "storeEvents", ...sizes });
  const insert = await measureDirectWrite(run, settings, workload, { write: "insertEvents", ...sizes });
  const destinations = await destinationsPhase(urls, settings);
  const cluster = await clusterPhase(settings);
  const metricsCost = await metricsCostPhase(urls, settings, batchOptions);
  progress("stopping services and dropping the bench databases");
  await runTeardown();

  const summary = renderSummary({
    settings,
    environment,
    backgroundBusy,
    workload: workloadLine(settings, workload),
    round: { e2e: { warmup, ...phases, gatewayPeakRss, consumerPeakRss }, store, insert },
    metricsCost,
    segment,
    destinations: destinations.comparison,
    cluster,
    disk,
    cpuGroups: Object.keys(batchOptions.cpuGroups),
    cpuCount: os.cpus().length,
  });
  return [summary, ...profiles, ...serviceWarnings({ gateway, consumer }), ...destinations.warnings].join("\n");
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
