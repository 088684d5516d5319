import os from "node:os";
import type { TestPipeline } from "../support/pipeline.ts";
import { type BodySource, ownBatchBodies, ownSegmentSizedBodies, segmentBatchBodies } from "./fresh-bodies.ts";
import { ingestPhase, loadGeneratorGroup, type PhaseOptions, type PhaseResult } from "./phase.ts";
import { formatCount, formatMs, formatPercent, formatSeconds } from "./report.ts";
import type { BenchSettings } from "./settings.ts";
import { storedPerSecond } from "./summary.ts";

/** The issue's limit: the Segment route may cost the gateway at most 15% more CPU per event than ours. */
export const maxSegmentGatewayCpuRatio = 1.15;

export interface RouteRun {
  label: string;
  phase: PhaseResult;
  /** Average bytes of a request body as sent. */
  bodyBytes: number;
}

export interface SegmentComparison {
  durationS: number;
  /** The main batch phase: our route, one constant body, ids assigned by the gateway. */
  reference: RouteRun;
  own: RouteRun;
  /** Ours with the Segment messages' bytes per event: what is left of the difference is the route's work. */
  ownSized: RouteRun;
  segment: RouteRun;
  segmentGzip: RouteRun;
}

/** How a Segment SDK authenticates and what it says it is; the gzip variant also compresses the body. */
function segmentHeaders(key: string, gzip: boolean): Record<string, string> {
  return {
    "content-type": "application/json",
    "user-agent": "analytics-node-next/latest",
    authorization: `Basic ${Buffer.from(`${key}:`).toString("base64")}`,
    ...(gzip ? { "content-encoding": "gzip" } : {}),
  };
}

function routeOptions(base: PhaseOptions, key: string, bodies: BodySource, durationS: number): PhaseOptions {
  const segment = bodies.label.startsWith("segment");
  return {
    ...base,
    label: bodies.label,
    path: segment ? "/v1/batch" : "/v1/events/batch",
    body: () => bodies.next(),
    ...(segment ? { headers: segmentHeaders(key, bodies.label.endsWith("gzip")) } : {}),
    durationS,
  };
}

async function runRoute(
  pipeline: TestPipeline,
  base: PhaseOptions,
  key: string,
  bodies: BodySource,
  durationS: number,
): Promise<RouteRun> {
  const phase = await ingestPhase(pipeline, routeOptions(base, key, bodies, durationS));
  const { bodies: count, bytes } = bodies.made();
  return { label: bodies.label, phase, bodyBytes: count > 0 ? bytes / count : 0 };
}

/**
 * Our batch route and the Segment route /v1/batch, plain and gzip, on the services of the main phases, with
 * the batch phase's size and connections and `segmentDurationS` each. Every request carries new ids (our
 * `id`, Segment's messageId), else the gateway would map a repeated body to the same events and the stored
 * count would fall short. Ours runs twice, with its own small events and with events of the Segment messages'
 * bytes (ownSegmentSizedBodies), both between the two Segment phases, so a drift over the four (the table
 * growing, the machine's other work) falls on both sides of them. Undefined when BENCH_SEGMENT_DURATION_S=0.
 */
export async function compareSegmentRoute(
  pipeline: TestPipeline,
  settings: BenchSettings,
  base: PhaseOptions,
  reference: PhaseResult,
  problems: string[],
): Promise<SegmentComparison | undefined> {
  const durationS = settings.segmentDurationS;
  if (durationS === 0) return undefined;
  const { batchSize } = settings;
  const key = base.apiKey;
  if (settings.warmupS > 0) {
    // The gzip route runs every step of the plain one, and the inflate.
    const warmup = segmentBatchBodies(batchSize, key, true);
    const run = await runRoute(pipeline, { ...base, cpuGroups: {} }, key, warmup, settings.warmupS);
    problems.push(...run.phase.problems.map((problem) => `warm-up ${problem}`));
  }
  const segment = await runRoute(pipeline, base, key, segmentBatchBodies(batchSize, key, false), durationS);
  const ownSized = await runRoute(pipeline, base, key, ownSegmentSizedBodies(batchSize), durationS);
  const own = await runRoute(pipeline, base, key, ownBatchBodies(batchSize), durationS);
  const segmentGzip = await runRoute(pipeline, base, key, segmentBatchBodies(batchSize, key, true), durationS);
  for (const run of [segment, ownSized, own, segmentGzip]) problems.push(...run.phase.problems);
  const referenceBytes = typeof base.body === "string" ? Buffer.byteLength(base.body) : 0;
  return {
    durationS,
    reference: { label: "own batch, main phase", phase: reference, bodyBytes: referenceBytes },
    own,
    ownSized,
    segment,
    segmentGzip,
  };
}

/** A group's CPU milliseconds per 1,000 stored events, from the start of the load until all was stored. */
function cpuMsPerThousand(phase: PhaseResult, groups: readonly string[]): number {
  const seconds = groups.reduce((sum, group) => sum + (phase.cpuSecondsToStored[group] ?? 0), 0);
  return phase.storedEvents > 0 ? (seconds * 1e6) / phase.storedEvents : 0;
}

const pipelineGroups = (groups: readonly string[]) => groups.filter((group) => group !== loadGeneratorGroup);

function runs(comparison: SegmentComparison): RouteRun[] {
  return [comparison.reference, comparison.own, comparison.ownSized, comparison.segment, comparison.segmentGzip];
}

/** Per route: body size, throughput, exactness, latency, and each group's CPU per 1,000 events. */
export function segmentRouteRows(comparison: SegmentComparison, groups: readonly string[]): string[][] {
  const each = (value: (run: RouteRun) => string) => runs(comparison).map(value);
  const cpuRow = (name: string, picked: readonly string[]) => [
    name,
    ...each((run) => cpuMsPerThousand(run.phase, picked).toFixed(1)),
  ];
  return [
    ["request body, bytes as sent", ...each((run) => formatCount(run.bodyBytes))],
    ["accepted events/s", ...each((run) => formatCount(run.phase.acceptedEvents / run.phase.load.durationS))],
    ["stored events/s", ...each((run) => formatCount(storedPerSecond(run.phase).rate))],
    [
      "stored == published",
      ...each(({ phase }) =>
        !phase.timedOut && phase.storedEvents === phase.publishedEvents
          ? `yes (${formatCount(phase.storedEvents)})`
          : `NO (${formatCount(phase.storedEvents)} of ${formatCount(phase.publishedEvents)})`,
      ),
    ],
    [
      "accept latency p50 / p99",
      ...each(({ phase }) => `${formatMs(phase.load.latencyMs.p50)} / ${formatMs(phase.load.latencyMs.p99)}`),
    ],
    ["non-2xx / connection errors", ...each(({ phase }) => `${phase.load.non2xx} / ${phase.load.errors}`)],
    ["load start to last event stored", ...each(({ phase }) => formatSeconds(catchUpS(phase)))],
    ["machine busy under load (others, % of a core)", ...each(({ phase }) => machineBusy(phase))],
    ...groups.map((group) => cpuRow(`CPU ms / 1,000 events: ${group}`, [group])),
    cpuRow("CPU ms / 1,000 events: pipeline (all but bench)", pipelineGroups(groups)),
  ];
}

/** The machine's busy share while loaded, and beside it what processes outside the groups used: noise. */
function machineBusy({ cpu }: PhaseResult): string {
  const others = cpu.machineBusy * os.cpus().length - Object.values(cpu.average).reduce((sum, value) => sum + value, 0);
  return `${formatPercent(cpu.machineBusy)} (${formatPercent(others)})`;
}

function catchUpS(phase: PhaseResult): number {
  const end = phase.lastStored ?? phase.load.finish;
  return (end.getTime() - phase.load.start.getTime()) / 1000;
}

/**
 * Each Segment variant against one of our routes with fresh ids (`own`, or `ownSized` with the same bytes per
 * event): the CPU per event of each part, and throughput.
 */
export function segmentRatioRows(
  comparison: SegmentComparison,
  groups: readonly string[],
  against: "own" | "ownSized",
): string[][] {
  const { segment, segmentGzip } = comparison;
  const baseline = comparison[against];
  const ratio = (run: RouteRun, value: (phase: PhaseResult) => number) => {
    const base = value(baseline.phase);
    return base > 0 ? value(run.phase) / base : 0;
  };
  const format = (value: number) => `${value.toFixed(3)} (${value >= 1 ? "+" : ""}${((value - 1) * 100).toFixed(1)}%)`;
  const measures: Array<[string, (phase: PhaseResult) => number, number | undefined]> = [
    ["gateway CPU per event", (phase) => cpuMsPerThousand(phase, ["gateway"]), maxSegmentGatewayCpuRatio],
    ["consumer CPU per event", (phase) => cpuMsPerThousand(phase, ["consumer"]), undefined],
    ["pipeline CPU per event", (phase) => cpuMsPerThousand(phase, pipelineGroups(groups)), undefined],
    ["stored events/s", (phase) => storedPerSecond(phase).rate, undefined],
  ];
  return measures.map(([name, value, max]) => {
    const plain = ratio(segment, value);
    const gzip = ratio(segmentGzip, value);
    return [
      name,
      format(plain),
      format(gzip),
      max === undefined ? "" : `<= ${max}`,
      max === undefined ? "" : plain <= max && gzip <= max ? "yes" : "NO",
    ];
  });
}
