import type { ClusterComparison } from "./cluster.ts";
import { clusterSection } from "./cluster-report.ts";
import type { DestinationsComparison } from "./destinations.ts";
import { destinationsColumns, destinationsRows, destinationsWarnings } from "./destinations-report.ts";
import { type DiskUsage, diskSection } from "./disk.ts";
import { type MetricsCost, maxMetricsCost, metricsCostRows } from "./metrics-cost.ts";
import type { PhaseResult } from "./phase.ts";
import type { CpuUsage } from "./process-stats.ts";
import { formatCount, formatPercent, formatSeconds, formatTable } from "./report.ts";
import type { SegmentComparison } from "./segment-compare.ts";
import { segmentColumns, segmentRatioRows, segmentRouteRows } from "./segment-report.ts";
import type { BenchSettings } from "./settings.ts";
import { cpuPer1000Table, type ThroughputRound, throughputTable } from "./throughput-report.ts";

export interface BenchOutcome {
  settings: BenchSettings;
  environment: string;
  backgroundBusy: number;
  /** The line that says what was sent. */
  workload: string;
  /** The main phases and the direct writes, reported like one round of BENCH_ONLY=throughput. */
  round: ThroughputRound;
  metricsCost: MetricsCost | undefined;
  segment: SegmentComparison | undefined;
  destinations: DestinationsComparison | undefined;
  cluster: ClusterComparison | undefined;
  /** The main pipeline's database after the warm-up, batch and single phases. */
  disk: DiskUsage;
  cpuGroups: string[];
  cpuCount: number;
}

function verdict(met: boolean): string {
  return met ? "yes" : "NO";
}

function storedCheck(phase: PhaseResult): string[] {
  const inFlight = phase.publishedEvents - phase.acceptedEvents;
  return [
    `${formatCount(phase.storedEvents)} == ${formatCount(phase.publishedEvents)} ` +
      `(${formatCount(phase.acceptedEvents)} + ${formatCount(inFlight)})`,
    "equal",
    verdict(!phase.timedOut && phase.storedEvents === phase.publishedEvents),
  ];
}

/** What the throughput table leaves out: every phase stored exactly what it published, and what failed. */
function completenessRows(outcome: BenchOutcome): string[][] {
  const { batch, steady, single } = outcome.round.e2e;
  const lagS = batch.lastStored ? Math.max(0, (batch.lastStored.getTime() - batch.load.finish.getTime()) / 1000) : 0;
  const failures = (phase: PhaseResult) => [`${phase.load.non2xx} / ${phase.load.errors}`, "", ""];
  return [
    ["batch: stored == published (accepted + in flight at cutoff)", ...storedCheck(batch)],
    ["batch: consumer lag after the load stopped", formatSeconds(lagS), "", ""],
    ["batch: non-2xx / connection errors", ...failures(batch)],
    ["steady single events: stored == published", ...storedCheck(steady)],
    ["steady single events: non-2xx / connection errors", ...failures(steady)],
    ["saturated single events: stored == published", ...storedCheck(single)],
    ["saturated single events: non-2xx / connection errors", ...failures(single)],
  ];
}

/** Each process group's CPU in both phases, then what the rest of the machine used meanwhile. */
function cpuRows(outcome: BenchOutcome): string[][] {
  const { batch, single } = outcome.round.e2e;
  const rows = outcome.cpuGroups.map((group) => [
    group,
    formatPercent(batch.cpu.average[group] ?? 0),
    formatPercent(batch.cpu.peak[group] ?? 0),
    formatPercent(single.cpu.average[group] ?? 0),
    formatPercent(single.cpu.peak[group] ?? 0),
  ]);
  // The machine's busy time beyond the groups above: other sessions' work shows up here and depresses the numbers.
  const other = (usage: CpuUsage) =>
    usage.machineBusy * outcome.cpuCount - Object.values(usage.average).reduce((sum, value) => sum + value, 0);
  rows.push(["other processes", formatPercent(other(batch.cpu)), "", formatPercent(other(single.cpu)), ""]);
  rows.push([
    `machine (% of all ${outcome.cpuCount} CPUs)`,
    formatPercent(batch.cpu.machineBusy),
    "",
    formatPercent(single.cpu.machineBusy),
    "",
  ]);
  return rows;
}

export function renderSummary(outcome: BenchOutcome): string {
  const { settings } = outcome;
  return [
    outcome.environment,
    outcome.workload,
    `batch phase: ${settings.batchConnections} connections x ${settings.batchDurationS} s, ${settings.batchSize} events ` +
      `per request, after a ${settings.warmupS} s warm-up; single events at a steady ${settings.steadyRate} req/s ` +
      `(open model, loadtest) x ${settings.steadyDurationS} s after ${settings.steadyWarmupS} s at that rate, then at saturation on ` +
      `${settings.singleConnections} connections x ${settings.singleDurationS} s; direct storeEvents and ` +
      `insertEvents on ${settings.rawConcurrency} connections, ${settings.directBatchSize} events a statement, into fresh databases, as many events as the warm-up and ` +
      `batch phase stored; ${destinationsWorkload(outcome.destinations)}services at LOG_LEVEL=info; ` +
      `machine busy before the load: ${formatPercent(outcome.backgroundBusy)}`,
    "",
    throughputTable(settings, [outcome.round]),
    "",
    formatTable(["check", "value", "expected", "met"], completenessRows(outcome), [1]),
    "",
    "CPU ms per 1,000 stored events (end to end from the start of the batch load until its last event was " +
      "stored, direct over the timed writes)",
    cpuPer1000Table([outcome.round], outcome.cpuGroups),
    "",
    "CPU, % of one core (peak: highest one-second sample)",
    formatTable(["process", "batch avg", "batch peak", "single avg", "single peak"], cpuRows(outcome), [1, 2, 3, 4]),
    ...diskSection(
      "Disk per million events with rollups, the main pipeline's database after the warm-up, batch and single " +
        "phases (sizes with indexes and TOAST; WAL: the server's, every database, from the warm-up until the " +
        "single phase was stored; rollups grow with days x events x users, not with events: see the workload)",
      [outcome.disk],
    ),
    ...segmentSection(outcome),
    ...destinationsSection(settings, outcome.destinations),
    ...clusterSection(settings, outcome.cluster),
    ...metricsCostSection(outcome.metricsCost),
  ].join("\n");
}

function segmentSection({ segment, settings, cpuGroups }: BenchOutcome): string[] {
  if (!segment) return [];
  const ratioTable = (against: "own" | "ownSized", name: string) =>
    formatTable(
      ["measure", `segment / ${name}: median; rounds`, `segment gzip / ${name}: median; rounds`, "target", "met"],
      segmentRatioRows(segment, cpuGroups, against),
      [1, 2],
    );
  return [
    "",
    `Segment route /v1/batch vs our /v1/events/batch: ${segment.rounds} rounds of the four routes, ` +
      `${settings.batchConnections} connections x ${segment.durationS} s each, ${settings.batchSize} events per ` +
      "request, every request with new ids (ours a random UUID per event, Segment's messageId " +
      "node-next-<ms>-<uuid>), bodies made per request by the bench; the main batch phase (BENCH_WORKLOAD) beside " +
      "them. Rates, latency and load: median of the rounds; CPU from the start of each load until its last " +
      "event was stored, per stored event, all rounds together",
    formatTable(
      ["measure", ...segmentColumns(segment).map((run) => run.label)],
      segmentRouteRows(segment, cpuGroups),
      [1, 2, 3, 4, 5],
    ),
    "",
    "Segment / our batch route with fresh ids (ratios of phases of one round)",
    ratioTable("own", "own"),
    "",
    "Segment / our batch route with fresh ids and Segment-sized events (the same bytes per event): the route's " +
      "own work, without the cost of reading and storing twice the bytes",
    ratioTable("ownSized", "own Segment-sized"),
  ];
}

function destinationsWorkload(comparison: DestinationsComparison | undefined): string {
  if (!comparison) return "";
  return (
    `destinations: ${comparison.order.join(", ")} webhook destinations delivering to a local sink, the batch load ` +
    `for ${comparison.durationS} s each, ${comparison.rounds} rounds; `
  );
}

export function destinationsSection(settings: BenchSettings, comparison: DestinationsComparison | undefined): string[] {
  if (!comparison) return [];
  const order = comparison.order.join(", ");
  return [
    "",
    `Destinations: the writer's stored events/s with 0, 1, 3 and 10 webhook destinations delivering beside it, ` +
      `and what each destination receives per second. A fresh pipeline with its own gateway and consumer; per ` +
      `number of destinations a forwarder of its own (defaults: 4 requests in flight per destination, up to 100 ` +
      `events each) delivering to a local sink (a child process answering 200 at once, counting events per ` +
      `destination); the batch phase's load (${settings.batchConnections} connections x ${comparison.durationS} s, ` +
      `${settings.batchSize} events per request), then a wait until every destination received every published ` +
      `event. ${comparison.rounds} rounds, ${order} then reversed; medians of the rounds, and each round's stored ` +
      "events/s over its own with none. Delivered events/s: a destination's distinct events over its first to " +
      "last request. CPU per event: all rounds together, from the start of each load until its last delivery " +
      "(NATS, forwarder, sink) or until all was stored (the rest)",
    formatTable(["measure", ...destinationsColumns(comparison)], destinationsRows(comparison), [1, 2, 3, 4]),
    ...destinationsWarnings(comparison),
  ];
}

function metricsCostSection(cost: MetricsCost | undefined): string[] {
  if (!cost) return [];
  return [
    "",
    `Metrics on vs off: ${cost.rounds} rounds, two fresh pipelines loaded side by side, ${cost.roundS} s per ` +
      "phase, the on services' /metrics scraped every 5 s; median (each round)",
    formatTable(
      ["measure", "metrics on", "metrics off", "on / off (median of rounds)", `cost <= ${maxMetricsCost * 100}%`],
      metricsCostRows(cost),
      [1, 2, 3],
    ),
  ];
}
