import os from "node:os";
import { median } from "./metrics-cost.ts";
import { loadGeneratorGroup, type PhaseResult } from "./phase.ts";
import { formatCount, formatMs, formatPercent, formatSeconds } from "./report.ts";
import {
  type ComparedRoute,
  comparedRoutes,
  maxSegmentGatewayCpuRatio,
  type RouteRun,
  type SegmentComparison,
} from "./segment-compare.ts";
import { storedPerSecond } from "./stored.ts";

/** A group's CPU milliseconds per 1,000 stored events, from the start of the load until all was stored. */
function cpuMsPerThousand(phases: readonly PhaseResult[], groups: readonly string[]): number {
  let seconds = 0;
  let events = 0;
  for (const phase of phases) {
    seconds += groups.reduce((sum, group) => sum + (phase.cpuSecondsToStored[group] ?? 0), 0);
    events += phase.storedEvents;
  }
  return events > 0 ? (seconds * 1e6) / events : 0;
}

const pipelineGroups = (groups: readonly string[]) => groups.filter((group) => group !== loadGeneratorGroup);

/** The main phase, then the compared routes. */
export function segmentColumns(comparison: SegmentComparison): RouteRun[] {
  return [comparison.reference, ...comparedRoutes.map((route) => comparison.routes[route])];
}

function catchUpS(phase: PhaseResult): number {
  const end = phase.lastStored ?? phase.load.finish;
  return (end.getTime() - phase.load.start.getTime()) / 1000;
}

/** What processes outside the groups used while loaded, in % of one core: the noise of the phase. */
function othersPercent({ cpu }: PhaseResult): number {
  return cpu.machineBusy * os.cpus().length - Object.values(cpu.average).reduce((sum, value) => sum + value, 0);
}

function exactness(phases: readonly PhaseResult[]): string {
  const stored = phases.reduce((sum, phase) => sum + phase.storedEvents, 0);
  const published = phases.reduce((sum, phase) => sum + phase.publishedEvents, 0);
  const exact = phases.every((phase) => !phase.timedOut && phase.storedEvents === phase.publishedEvents);
  return exact ? `yes (${formatCount(stored)})` : `NO (${formatCount(stored)} of ${formatCount(published)})`;
}

/**
 * Per route: body size, then the median over its rounds of throughput, latency and the machine's load, and
 * each group's CPU per 1,000 events over all its rounds together.
 */
export function segmentRouteRows(comparison: SegmentComparison, groups: readonly string[]): string[][] {
  const columns = segmentColumns(comparison);
  const each = (value: (run: RouteRun) => string) => columns.map(value);
  const middle = (value: (phase: PhaseResult) => number) => (run: RouteRun) => median(run.phases.map(value));
  const sum = (value: (phase: PhaseResult) => number) => (run: RouteRun) =>
    run.phases.reduce((total, phase) => total + value(phase), 0);
  const cpuRow = (name: string, picked: readonly string[]) => [
    name,
    ...each((run) => cpuMsPerThousand(run.phases, picked).toFixed(1)),
  ];
  return [
    // 0: bodies made per request by the workload, which does not count them.
    ["request body, bytes as sent", ...each((run) => (run.bodyBytes > 0 ? formatCount(run.bodyBytes) : "n/a"))],
    ["accepted events/s", ...each((run) => formatCount(middle((p) => p.acceptedEvents / p.load.durationS)(run)))],
    ["stored events/s", ...each((run) => formatCount(middle((p) => storedPerSecond(p).rate)(run)))],
    ["stored == published, all rounds", ...each((run) => exactness(run.phases))],
    [
      "accept latency p50 / p99",
      ...each(
        (run) =>
          `${formatMs(middle((p) => p.load.latencyMs.p50)(run))} / ${formatMs(middle((p) => p.load.latencyMs.p99)(run))}`,
      ),
    ],
    [
      "non-2xx / connection errors",
      ...each((run) => `${sum((p) => p.load.non2xx)(run)} / ${sum((p) => p.load.errors)(run)}`),
    ],
    ["load start to last event stored", ...each((run) => formatSeconds(middle(catchUpS)(run)))],
    [
      "machine busy under load (others, % of a core)",
      ...each(
        (run) =>
          `${formatPercent(middle((p) => p.cpu.machineBusy)(run))} (${formatPercent(middle(othersPercent)(run))})`,
      ),
    ],
    ...groups.map((group) => cpuRow(`CPU ms / 1,000 events: ${group}`, [group])),
    cpuRow("CPU ms / 1,000 events: pipeline (all but bench)", pipelineGroups(groups)),
  ];
}

const formatRatio = (value: number) =>
  `${value.toFixed(3)} (${value >= 1 ? "+" : ""}${((value - 1) * 100).toFixed(1)}%)`;

/**
 * Each Segment variant against one of our routes with fresh ids (`own`, or `ownSized` with the same bytes per
 * event), per measure: the median of the rounds' ratios, each of two phases of one round, then the rounds'.
 */
export function segmentRatioRows(
  comparison: SegmentComparison,
  groups: readonly string[],
  against: Extract<ComparedRoute, "own" | "ownSized">,
): string[][] {
  const { routes } = comparison;
  const baseline = routes[against].phases;
  const ratios = (run: RouteRun, value: (phase: PhaseResult) => number) =>
    run.phases.map((phase, round) => {
      const base = baseline[round];
      return base && value(base) > 0 ? value(phase) / value(base) : 0;
    });
  const cell = (values: number[]) => `${formatRatio(median(values))}; ${values.map((v) => v.toFixed(2)).join(", ")}`;
  const measures: Array<[string, (phase: PhaseResult) => number, number | undefined]> = [
    ["gateway CPU per event", (phase) => cpuMsPerThousand([phase], ["gateway"]), maxSegmentGatewayCpuRatio],
    ["consumer CPU per event", (phase) => cpuMsPerThousand([phase], ["consumer"]), undefined],
    ["pipeline CPU per event", (phase) => cpuMsPerThousand([phase], pipelineGroups(groups)), undefined],
    ["stored events/s", (phase) => storedPerSecond(phase).rate, undefined],
  ];
  return measures.map(([name, value, max]) => {
    const plain = ratios(routes.segment, value);
    const gzip = ratios(routes.segmentGzip, value);
    const met = max !== undefined && median(plain) <= max && median(gzip) <= max;
    return [
      name,
      cell(plain),
      cell(gzip),
      max === undefined ? "" : `<= ${max}`,
      max === undefined ? "" : met ? "yes" : "NO",
    ];
  });
}
