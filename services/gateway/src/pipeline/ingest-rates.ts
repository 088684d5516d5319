import type { PipelineReport, PipelineRole } from "@evpipe/shared";
import type { PipelineSummary } from "@evpipe/shared/api-responses";

/** How the reports of every instance become rates. */
export interface RateWindow {
  /** A rate is taken over the reports of this span before an instance's latest (~10 s). */
  windowMs: number;
  /** An instance whose latest report is older than this is gone (~3 report intervals). */
  recentMs: number;
}

/** The window for an interval: five reports for a rate, three missed reports for an instance to count as gone. */
export const rateWindowOf = (reportIntervalMs: number): RateWindow => ({
  windowMs: 5 * reportIntervalMs,
  recentMs: 3 * reportIntervalMs,
});

/**
 * One instance's reports, oldest first, spanning at most the window, and when the latest arrived here by this
 * gateway's clock: whether the instance is still there is judged by that, as the instance's own clock may be
 * off by any amount; its rate is taken between its own `at`s, which needs no clock to agree with ours.
 */
export interface ReportSeries {
  readonly reports: readonly PipelineReport[];
  readonly receivedAt: number;
}

/**
 * The series with `report`, received at `receivedAt`, added and reports older than the window before it
 * dropped. A report not newer than the latest kept (a watch replaying what it delivered already) changes
 * nothing, not even when the instance was last heard from.
 */
export function keepReport(
  series: ReportSeries | undefined,
  report: PipelineReport,
  receivedAt: number,
  windowMs: number,
): ReportSeries {
  const latest = series?.reports.at(-1);
  if (series && latest && latest.at >= report.at) return series;
  const kept = (series?.reports ?? []).filter((earlier) => earlier.at >= report.at - windowMs);
  return { reports: [...kept, report], receivedAt };
}

/** The instances to keep in memory: those heard from within `keepMs` (the bucket forgets the others). */
export function forgetGone<K>(all: ReadonlyMap<K, ReportSeries>, now: number, keepMs: number): Map<K, ReportSeries> {
  return new Map([...all].filter(([, series]) => series.receivedAt >= now - keepMs));
}

const counted = (report: PipelineReport): number => (report.role === "gateway" ? report.accepted : report.stored);

/** Per second over the instance's window; undefined until it has two reports in it. */
function instanceRate({ reports }: ReportSeries, windowMs: number): number | undefined {
  const latest = reports.at(-1);
  const earliest = latest && reports.find((report) => report.at >= latest.at - windowMs);
  if (!latest || !earliest || earliest === latest) return undefined;
  // Counts only grow within one process (a restart is a new instance): a decrease is a bad report, not a rate.
  return Math.max(0, counted(latest) - counted(earliest)) / ((latest.at - earliest.at) / 1000);
}

/**
 * Events accepted and stored per second across every instance, and how many of each reported recently, as of
 * `now` on the clock the series' receivedAt is on. Each instance's rate is taken between reports of its own
 * clock, so clocks that differ between hosts change nothing. Null until an instance of the role has two reports
 * in its window.
 */
export function ingestRates(all: Iterable<ReportSeries>, now: number, window: RateWindow): PipelineSummary["ingest"] {
  const rates: Record<PipelineRole, number | null> = { gateway: null, consumer: null };
  const instances: Record<PipelineRole, number> = { gateway: 0, consumer: 0 };
  for (const series of all) {
    const latest = series.reports.at(-1);
    if (!latest || series.receivedAt < now - window.recentMs) continue;
    instances[latest.role]++;
    const rate = instanceRate(series, window.windowMs);
    if (rate !== undefined) rates[latest.role] = (rates[latest.role] ?? 0) + rate;
  }
  return {
    accepted_per_second: rates.gateway,
    stored_per_second: rates.consumer,
    gateways: instances.gateway,
    consumers: instances.consumer,
  };
}
