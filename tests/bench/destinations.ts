import { randomBytes } from "node:crypto";
import { type DestinationRecord, destinationNames, openDestinationsBucket, sealSecret } from "@evpipe/shared";
import type { KV } from "nats";
import type { TestPipeline } from "../support/pipeline.ts";
import type { SinkCount } from "./destination-sink.ts";
import { ingestPhase, natsGroup, type PhaseOptions, type PhaseResult } from "./phase.ts";
import { peakRssBytes, pidsNamed, startCpuTotals } from "./process-stats.ts";
import { formatCount } from "./report.ts";
import { benchEventsMaxBytes, startWatched, type WatchedService } from "./services.ts";
import type { BenchSettings } from "./settings.ts";
import { type SinkProcess, startSinkProcess } from "./sink-process.ts";

/** The numbers of webhook destinations compared, none first: each is measured against it. */
export const destinationCounts = [0, 1, 3, 10] as const;

export const forwarderGroup = "forwarder";
export const sinkGroup = "destination sink";

/** One number of destinations in one round. */
export interface DestinationsRun {
  destinations: number;
  round: number;
  /** The ingest phase, checked like the main ones: every published event stored exactly once. */
  phase: PhaseResult;
  /** What each destination received, in name order. */
  received: Array<SinkCount & { name: string }>;
  /** Every destination should receive every event published during the phase. */
  expectedEvents: number;
  /**
   * CPU seconds of the NATS server, the forwarder and the sink from the start of the load until every destination
   * had every event; the writer's side is the phase's, until everything was stored.
   */
  cpuSeconds: Record<string, number>;
  forwarderPeakRss: number | undefined;
  /** The forwarder's first few warnings or errors, with their count. */
  forwarderWarnings: string | undefined;
}

export interface DestinationsComparison {
  rounds: number;
  durationS: number;
  /** The order of the first round; each next round runs it reversed. */
  order: readonly number[];
  /** The process groups whose CPU was counted. */
  cpuGroups: string[];
  runs: DestinationsRun[];
}

export interface DestinationsDeps {
  pipeline: TestPipeline;
  /** The batch phase's options against this pipeline's gateway and consumer, warmed up. */
  base: PhaseOptions;
  settings: BenchSettings;
  teardown: Array<() => Promise<unknown>>;
  problems: string[];
}

/** What every run shares: the sink, the destinations bucket and the key their secrets are sealed with. */
interface Harness {
  deps: DestinationsDeps;
  sink: SinkProcess;
  bucket: KV;
  secretsKey: Buffer;
}

/** The records `pnpm ops destinations add NAME --type webhook` writes, each to its own path on the sink. */
async function addWebhooks(harness: Harness, names: readonly string[]): Promise<void> {
  const now = new Date().toISOString();
  for (const name of names) {
    const record: DestinationRecord = {
      name,
      type: "webhook",
      url: `${harness.sink.url}/d/${name}`,
      secret: sealSecret(harness.secretsKey, name, `bench-signing-secret-${name}`),
      paused: false,
      created_at: now,
      start_at: now,
    };
    await harness.bucket.put(name, JSON.stringify(record));
  }
}

/** What `destinations remove` ends in, with the forwarder already stopped: no record and no consumers left. */
async function removeWebhooks({ deps, bucket, sink }: Harness, names: readonly string[]): Promise<void> {
  const { pipeline } = deps;
  const destinations = destinationNames(pipeline.namespace);
  for (const name of names) {
    await bucket.delete(name);
    for (const stream of [pipeline.names.eventsStream, destinations.replayStream]) {
      await pipeline.jsm.consumers.delete(stream, destinations.consumer(name)).catch(() => undefined);
    }
    await sink.forget(name);
  }
}

/** A forwarder for the destinations in the bucket, with every one of them running. */
async function startForwarder({ deps, secretsKey }: Harness, names: readonly string[]): Promise<WatchedService> {
  const env = deps.pipeline.serviceEnv({
    // The gateway's and consumer's: each service provisions the stream, and a smaller cap would apply.
    EVENTS_MAX_BYTES: benchEventsMaxBytes,
    DESTINATION_SECRETS_KEY: secretsKey.toString("base64"),
  });
  const forwarder = await startWatched("forwarder", env, (message) => deps.problems.push(message));
  deps.teardown.push(() => forwarder.stop());
  // It logs readiness once the bucket's destinations were started (or failed to).
  const answer = await fetch(`${forwarder.service.url}/readyz`, { signal: AbortSignal.timeout(5000) });
  const ready = (await answer.json()) as {
    destinations?: Record<string, string>;
  };
  const notRunning = names.filter((name) => ready.destinations?.[name] !== "running");
  if (notRunning.length > 0) {
    throw new Error(`forwarder: destinations not running: ${notRunning.join(", ")} (${JSON.stringify(ready)})`);
  }
  return forwarder;
}

/** Polls the sink until every destination has `expected` distinct events, or the deadline passes. */
async function waitForDelivered(
  { sink, deps }: Harness,
  label: string,
  names: readonly string[],
  expected: number,
): Promise<Record<string, SinkCount>> {
  const started = Date.now();
  const deadline = started + deps.settings.deliveryTimeoutS * 1000;
  let reported = started;
  for (;;) {
    const counts = await sink.counts();
    const slowest = Math.min(...names.map((name) => counts[name]?.distinct ?? 0));
    if (slowest >= expected || Date.now() > deadline) return counts;
    if (Date.now() - reported >= 10_000) {
      reported = Date.now();
      const seconds = Math.round((reported - started) / 1000);
      deps.base.progress(`${label}: after ${seconds} s the slowest destination has ${formatCount(slowest)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Missing events, events never published, unreadable requests: real failures, like events lost on the way to
 * PostgreSQL. An event delivered twice is not one: delivery is at least once (PRODUCT.md §7); the report counts them.
 */
function deliveryProblems(run: DestinationsRun, label: string, timeoutS: number): string[] {
  const problems: string[] = [];
  for (const destination of run.received) {
    const { name, distinct, unreadable } = destination;
    const expected = formatCount(run.expectedEvents);
    if (distinct < run.expectedEvents) {
      problems.push(`${label}: ${name} received ${formatCount(distinct)} of ${expected} events after ${timeoutS} s`);
    } else if (distinct > run.expectedEvents) {
      problems.push(
        `${label}: ${name} received ${formatCount(distinct)} distinct events but ${expected} were published`,
      );
    }
    if (unreadable > 0) problems.push(`${label}: ${name} was sent ${unreadable} requests that were not a batch`);
  }
  return problems;
}

function warningsOf(forwarder: WatchedService | undefined): string | undefined {
  if (!forwarder || forwarder.warningCount === 0) return undefined;
  return `${forwarder.warningCount} warnings or errors, e.g. ${forwarder.warnings.join(" | ")}`;
}

/**
 * N webhook destinations on the sink and a forwarder for them (none for N = 0), the batch phase's load for
 * the comparison's duration, then a wait until every destination received every published event. The NATS
 * server's, the forwarder's and the sink's CPU is counted from the start of the load until that wait ends, so
 * the catch-up is in their cost.
 */
async function runDestinations(harness: Harness, count: number, roundIndex: number): Promise<DestinationsRun> {
  const { deps, sink } = harness;
  const { settings, base, pipeline } = deps;
  const label = `${count} destination${count === 1 ? "" : "s"}, round ${roundIndex + 1}`;
  const names = Array.from({ length: count }, (_, index) => `bench-r${roundIndex + 1}-n${count}-${index + 1}`);
  await addWebhooks(harness, names);
  const forwarder = count > 0 ? await startForwarder(harness, names) : undefined;
  const deliveryGroups = {
    [natsGroup]: () => pidsNamed("nats-server"),
    [forwarderGroup]: () => (forwarder ? [forwarder.pid] : []),
    [sinkGroup]: () => [sink.pid],
  };
  // Long-lived processes only: startCpuTotals misses a process that exits before the end, as an idle pool's
  // PostgreSQL backends do during a long catch-up.
  const totals = startCpuTotals(deliveryGroups);
  const cpuGroups = { ...base.cpuGroups, ...deliveryGroups };
  const phase = await ingestPhase(pipeline, { ...base, label, durationS: settings.destinationsDurationS, cpuGroups });
  const expectedEvents = phase.publishedEvents;
  if (count > 0)
    base.progress(`${label}: waiting for each destination to receive ${formatCount(expectedEvents)} events`);
  const received = await waitForDelivered(harness, label, names, expectedEvents);
  const cpuSeconds = totals.stop();
  const forwarderPeakRss = forwarder ? peakRssBytes(forwarder.pid) : undefined;
  await forwarder?.stop();
  await removeWebhooks(harness, names);
  const empty: SinkCount = { requests: 0, events: 0, distinct: 0, firstAt: 0, lastAt: 0, unreadable: 0 };
  const run: DestinationsRun = {
    destinations: count,
    round: roundIndex,
    phase,
    received: names.map((name) => ({ name, ...(received[name] ?? empty) })),
    expectedEvents,
    cpuSeconds,
    forwarderPeakRss,
    forwarderWarnings: warningsOf(forwarder),
  };
  deps.problems.push(...phase.problems, ...deliveryProblems(run, label, settings.deliveryTimeoutS));
  return run;
}

/**
 * The cost of destinations: the writer's stored events/s with 0, 1, 3 and 10 webhook destinations delivering
 * beside it, and what each destination receives per second. The rounds run the numbers in an order reversed
 * each round (0, 1, 3, 10, then 10, 3, 1, 0), so the drift of the machine and of the growing table falls on
 * every number alike over two rounds; each round's ratios compare phases a minute apart at most.
 */
export async function compareDestinations(deps: DestinationsDeps): Promise<DestinationsComparison> {
  const { destinationsDurationS: durationS, destinationsRounds: rounds } = deps.settings;
  const sink = await startSinkProcess((message) => deps.problems.push(message));
  deps.teardown.push(() => sink.stop());
  const destinations = destinationNames(deps.pipeline.namespace);
  const harness: Harness = {
    deps,
    sink,
    bucket: await openDestinationsBucket(deps.pipeline.js, destinations),
    secretsKey: randomBytes(32),
  };
  const runs: DestinationsRun[] = [];
  for (let index = 0; index < rounds; index++) {
    const order = index % 2 === 0 ? destinationCounts : [...destinationCounts].reverse();
    for (const count of order) runs.push(await runDestinations(harness, count, index));
  }
  await sink.stop();
  const cpuGroups = [...Object.keys(deps.base.cpuGroups), forwarderGroup, sinkGroup];
  return { rounds, durationS, order: destinationCounts, cpuGroups, runs };
}
