import type { TestPipeline } from "../support/pipeline.ts";
import { ingestPhase, type PhaseOptions, type PhaseResult } from "./phase.ts";
import { formatCount } from "./report.ts";
import type { WatchedService } from "./services.ts";
import type { BenchSettings } from "./settings.ts";
import { storedPerSecond } from "./stored.ts";
import { batchBody, singleBody } from "./workload.ts";

export type MetricsMode = "on" | "off";

/** A gateway and consumer started with METRICS_ENABLED=true or false, on a pipeline of their own. */
export interface ModeServices {
  mode: MetricsMode;
  pipeline: TestPipeline;
  key: string;
  gateway: WatchedService;
  consumer: WatchedService;
}

interface RoundFigures {
  /** Batch rounds: events stored per second over the round's stored_at window (end to end). */
  storedPerSecond: number;
  /** Single-event rounds: requests accepted per second. */
  singlePerSecond: number;
  /**
   * The gateway's CPU time per accepted request in each workload: the cost of metrics itself, which other
   * work on a shared machine disturbs less than it disturbs throughput.
   */
  gatewayCpuUsPerBatch: number;
  gatewayCpuUsPerSingle: number;
}

export interface MetricsCost {
  rounds: number;
  roundS: number;
  figures: Record<MetricsMode, RoundFigures[]>;
  problems: string[];
}

function phaseOptions(services: ModeServices, settings: BenchSettings, base: PhaseOptions, kind: "batch" | "single") {
  const single = kind === "single";
  return {
    ...base,
    label: `metrics ${services.mode}, ${kind}`,
    gatewayUrl: services.gateway.service.url,
    apiKey: services.key,
    path: single ? "/v1/events" : "/v1/events/batch",
    body: single ? singleBody() : batchBody(settings.batchSize),
    eventsPerRequest: single ? 1 : settings.batchSize,
    connections: single ? settings.singleConnections : settings.batchConnections,
    durationS: settings.metricsRoundS,
    cpuGroups: { gateway: () => [services.gateway.pid], consumer: () => [services.consumer.pid] },
  };
}

/**
 * Rounds in which two identical pipelines, whose services differ only in METRICS_ENABLED, are loaded at the
 * same time, side by side: whatever else the machine does in a round (other work, a checkpoint) falls on both
 * alike, so each round's on/off ratio is free of the drift between rounds that is larger than the cost being
 * measured. Each round is a batch phase and a single-event phase, each checked for exactness like the main
 * phases.
 */
export async function measureMetricsCost(
  modes: Record<MetricsMode, ModeServices>,
  settings: BenchSettings,
  base: PhaseOptions,
): Promise<MetricsCost> {
  const figures: Record<MetricsMode, RoundFigures[]> = { on: [], off: [] };
  const problems: string[] = [];
  const bothModes: MetricsMode[] = ["on", "off"];
  const sideBySide = (kind: "batch" | "single") =>
    Promise.all(
      bothModes.map((mode) => ingestPhase(modes[mode].pipeline, phaseOptions(modes[mode], settings, base, kind))),
    );
  for (let round = 0; round < settings.metricsRounds; round++) {
    // Metrics on costs what production pays: the per-request counting and the scrapes.
    const scraping = scrapeEvery(scrapeIntervalMs, modes.on);
    const batches = await sideBySide("batch");
    const singles = await sideBySide("single");
    await scraping.stop();
    bothModes.forEach((mode, index) => {
      const batch = batches[index] as PhaseResult;
      const single = singles[index] as PhaseResult;
      problems.push(...batch.problems, ...single.problems);
      figures[mode].push({
        storedPerSecond: storedPerSecond(batch).rate,
        singlePerSecond: single.load.accepted / single.load.durationS,
        gatewayCpuUsPerBatch: gatewayCpuUsPerRequest(batch),
        gatewayCpuUsPerSingle: gatewayCpuUsPerRequest(single),
      });
    });
  }
  return { rounds: settings.metricsRounds, roundS: settings.metricsRoundS, figures, problems };
}

/** A scrape every 5 s: three times Prometheus's default interval of 15 s, so the comparison errs against metrics. */
const scrapeIntervalMs = 5000;

function scrapeEvery(intervalMs: number, services: ModeServices): { stop(): Promise<void> } {
  const urls = [services.gateway.service.url, services.consumer.service.url].map((base) => `${base}/metrics`);
  let last: Promise<void> = Promise.resolve();
  let failure: Error | undefined;
  const scrape = async () => {
    for (const url of urls) {
      const res = await fetch(url);
      if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
      await res.text();
    }
  };
  const timer = setInterval(() => {
    last = scrape().catch((err: Error) => {
      failure ??= err;
    });
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await last;
      if (failure) throw failure;
    },
  };
}

function gatewayCpuUsPerRequest(phase: PhaseResult): number {
  const cpuSeconds = ((phase.cpu.average.gateway ?? 0) / 100) * phase.load.durationS;
  return phase.load.accepted > 0 ? (cpuSeconds / phase.load.accepted) * 1e6 : 0;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return 0;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The limit: metrics may cost at most 3% of the throughput. */
export const maxMetricsCost = 0.03;

/**
 * One row per measure: each mode's median and rounds, the median of the rounds' on/off ratios, and whether
 * metrics cost at most 3% (3% less throughput, or 3% more CPU per request).
 */
export function metricsCostRows(cost: MetricsCost): string[][] {
  const measures: Array<[string, (figures: RoundFigures) => number, "higher" | "lower"]> = [
    ["stored events/s (batch)", (f) => f.storedPerSecond, "higher"],
    ["accepted requests/s (single)", (f) => f.singlePerSecond, "higher"],
    ["gateway CPU us per request (batch)", (f) => f.gatewayCpuUsPerBatch, "lower"],
    ["gateway CPU us per request (single)", (f) => f.gatewayCpuUsPerSingle, "lower"],
  ];
  return measures.map(([name, pick, better]) => {
    const on = cost.figures.on.map(pick);
    const off = cost.figures.off.map(pick);
    // Each round ran both side by side: the median of their ratios is free of the drift between rounds.
    const ratio = median(on.map((value, round) => (off[round] ? value / (off[round] as number) : 0)));
    const withinCost = better === "higher" ? ratio >= 1 - maxMetricsCost : ratio <= 1 + maxMetricsCost;
    return [
      name,
      `${formatCount(median(on))} (${on.map(formatCount).join(", ")})`,
      `${formatCount(median(off))} (${off.map(formatCount).join(", ")})`,
      `${ratio.toFixed(3)} (${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(1)}%)`,
      withinCost ? "yes" : "NO",
    ];
  });
}
