import { mkdirSync } from "node:fs";
import { sql } from "kysely";
import { createTestPipeline, type TestPipeline } from "../support/pipeline.ts";
import { cpuProfileEnv, profilesOf } from "./cpu-profile.ts";
import { type DirectResult, type DirectWrite, measureDirectWrite } from "./direct-write.ts";
import { ingestPhase, type PhaseOptions } from "./phase.ts";
import { peakRssBytes } from "./process-stats.ts";
import {
  type BenchRun,
  type BenchServices,
  batchPhaseOptions,
  serviceWarnings,
  startBenchServices,
  type WatchedService,
} from "./services.ts";
import type { BenchSettings } from "./settings.ts";
import { cpuPer1000Table, type EndToEndRound, type ThroughputRound, throughputTable } from "./throughput-report.ts";
import { benchWorkload, type Workload } from "./workload.ts";

/** A service's peak RSS while it still runs; a failure to read it is a problem of the run. */
export function peakRss(run: BenchRun, watched: WatchedService, name: string): number | undefined {
  try {
    return peakRssBytes(watched.pid);
  } catch (err) {
    run.problems.push(`${name} peak RSS unreadable: ${(err as Error).message}`);
    return undefined;
  }
}

/** Gateway and consumer, started to write CPU profiles into BENCH_CPU_PROF when it is set. */
export function startProfiledServices(run: BenchRun, pipeline: TestPipeline, settings: BenchSettings) {
  if (settings.cpuProfileDir) mkdirSync(settings.cpuProfileDir, { recursive: true });
  return startBenchServices(run, pipeline, cpuProfileEnv(settings.cpuProfileDir));
}

/** The profiles the services wrote at exit (they write them only on a clean exit, hence SIGTERM). */
export function servicesProfiles(settings: BenchSettings, services: BenchServices, label: string): string[] {
  const directory = settings.cpuProfileDir;
  if (!directory) return [];
  return (["gateway", "consumer"] as const).flatMap((name) =>
    profilesOf(directory, services[name].pid).map((file) => `${label} ${name}: ${file}`),
  );
}

/**
 * The load phases of one end-to-end run on warmed-up services: batches at saturation, single events at a
 * steady rate (the 202's latency where it matters), then single events at saturation. The phases are
 * variations of `base`, so they share its bodies' sequence.
 */
export async function loadPhases(
  run: BenchRun,
  pipeline: TestPipeline,
  settings: BenchSettings,
  base: PhaseOptions,
  workload: Workload,
): Promise<Omit<EndToEndRound, "warmup" | "gatewayPeakRss" | "consumerPeakRss">> {
  const batch = await ingestPhase(pipeline, base);
  run.problems.push(...batch.problems);
  const single = { path: "/v1/events", body: workload.singleBodies(), eventsPerRequest: 1 };
  const steadyPhase = (label: string, durationS: number) =>
    ingestPhase(pipeline, {
      ...base,
      ...single,
      label: `${base.label} ${label}`,
      // An open model opens what connections it needs; this one is unused.
      connections: 1,
      durationS,
      overallRate: settings.steadyRate,
    });
  if (settings.steadyWarmupS > 0) {
    const warmup = await steadyPhase(`steady ${settings.steadyRate} req/s warm-up`, settings.steadyWarmupS);
    run.problems.push(...warmup.problems);
  }
  const steady = await steadyPhase(`steady ${settings.steadyRate} req/s`, settings.steadyDurationS);
  run.problems.push(...steady.problems);
  const saturated = await ingestPhase(pipeline, {
    ...base,
    ...single,
    label: `${base.label} single`,
    connections: settings.singleConnections,
    durationS: settings.singleDurationS,
  });
  run.problems.push(...saturated.problems);
  return { batch, steady, single: saturated };
}

/** A warm-up on `base`'s load for BENCH_WARMUP_S, then a checkpoint, so the measured phase starts clean. */
export async function warmUpPhase(run: BenchRun, pipeline: TestPipeline, settings: BenchSettings, base: PhaseOptions) {
  const warmup = await ingestPhase(pipeline, { ...base, label: `${base.label} warm-up`, durationS: settings.warmupS });
  run.problems.push(...warmup.problems);
  await sql`CHECKPOINT`.execute(pipeline.db);
  return warmup;
}

/** Gateway and consumer on a fresh pipeline (namespace and database), warmed up, loaded, stopped. */
async function endToEndRound(run: BenchRun, settings: BenchSettings, label: string) {
  const urls = { natsUrl: settings.natsUrl, databaseUrl: settings.databaseUrl };
  const pipeline = await createTestPipeline({ ...urls, namespacePrefix: "benchtp" });
  // Dropped at the end of the round, so the rounds don't pile up on disk; at teardown only if the run broke off.
  let dropping: Promise<void> | undefined;
  const drop = () => {
    dropping ??= pipeline.cleanup();
    return dropping;
  };
  run.teardown.push(drop);
  const services = await startProfiledServices(run, pipeline, settings);
  const base = { ...batchPhaseOptions(run, settings, services), label };
  const warmup = await warmUpPhase(run, pipeline, settings, base);
  const phases = await loadPhases(run, pipeline, settings, base, benchWorkload(settings));
  const round: EndToEndRound = {
    warmup,
    ...phases,
    gatewayPeakRss: peakRss(run, services.gateway, "gateway"),
    consumerPeakRss: peakRss(run, services.consumer, "consumer"),
  };
  await Promise.all([services.gateway.stop(), services.consumer.stop()]);
  await drop();
  return {
    round,
    profiles: servicesProfiles(settings, services, label),
    warnings: serviceWarnings(services).map((warning) => `${label} ${warning}`),
    cpuGroups: Object.keys(base.cpuGroups),
  };
}

/**
 * BENCH_ONLY=throughput: per round, the pipeline end to end, then the same workload's events written directly
 * by storeEvents and by insertEvents (in turns of order), each on a fresh database that first takes as many
 * events as the end-to-end warm-up stored and then as many as the end-to-end phase stored: the three start
 * from the same empty rollups and grow them alike.
 */
export async function throughputOnly(run: BenchRun, settings: BenchSettings, environment: string): Promise<string> {
  const workload = benchWorkload(settings);
  const rounds: ThroughputRound[] = [];
  const profiles: string[] = [];
  const warnings: string[] = [];
  let cpuGroups: string[] = [];
  for (let index = 0; index < settings.throughputRounds; index++) {
    const e2e = await endToEndRound(run, settings, `round ${index + 1}`);
    profiles.push(...e2e.profiles);
    warnings.push(...e2e.warnings);
    cpuGroups = e2e.cpuGroups;
    const sizes = { events: e2e.round.batch.storedEvents, warmupEvents: e2e.round.warmup.storedEvents };
    const direct = (write: DirectWrite) => measureDirectWrite(run, settings, workload, { write, ...sizes });
    const order: DirectWrite[] = index % 2 === 0 ? ["storeEvents", "insertEvents"] : ["insertEvents", "storeEvents"];
    const results: Partial<Record<DirectWrite, DirectResult>> = {};
    for (const write of order) results[write] = await direct(write);
    rounds.push({
      e2e: e2e.round,
      store: results.storeEvents as DirectResult,
      insert: results.insertEvents as DirectResult,
    });
  }
  return [
    environment,
    workloadLine(settings, workload),
    throughputHeader(settings),
    "",
    throughputTable(settings, rounds),
    "",
    "CPU ms per 1,000 stored events (median of the rounds; end to end from the start of the batch load until " +
      "its last event was stored, direct over the timed writes)",
    cpuPer1000Table(rounds, cpuGroups),
    ...(profiles.length > 0
      ? ["", "CPU profiles (node tests/bench/profile-top.ts <file> summarises one):", ...profiles]
      : []),
  ].join("\n");
}

/** The first line of every report: what was sent. */
export function workloadLine(settings: BenchSettings, workload: Workload): string {
  return `workload (BENCH_WORKLOAD=${workload.name}): ${workload.description}; batches of ${settings.batchSize} events`;
}

function throughputHeader(settings: BenchSettings): string {
  return (
    `${settings.throughputRounds} rounds; each: gateway and consumer on a fresh pipeline, a ${settings.warmupS} s ` +
    `warm-up, batches on ${settings.batchConnections} connections x ${settings.batchDurationS} s, single events at ` +
    `a steady ${settings.steadyRate} req/s (open model, loadtest) x ${settings.steadyDurationS} s after ${settings.steadyWarmupS} s at that rate, ` +
    `single events at saturation on ${settings.singleConnections} connections x ${settings.singleDurationS} s; then ` +
    `the same workload's events straight into a fresh database by storeEvents and by insertEvents on ` +
    `${settings.rawConcurrency} connections, ${settings.directBatchSize} events a statement (no HTTP, no NATS), as many as the warm-up and the batch phase stored` +
    (settings.cpuProfileDir
      ? `; gateway and consumer under --cpu-prof (slower), profiles in ${settings.cpuProfileDir}`
      : "")
  );
}
