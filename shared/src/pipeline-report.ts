import type { JetStreamClient, KV } from "nats";
import * as v from "valibot";
import { integerVar } from "./config.ts";
import type { Logger } from "./logger.ts";
import type { NatsNames } from "./names.ts";
import { openBucket, type Replication } from "./replication.ts";

/**
 * The wire format of a pipeline report: what one gateway or consumer process counted since it started, put in
 * the reports bucket under `<role>.<instance>` every interval. Several of each run behind a balancer, so the
 * gateway answering GET /v1/pipeline sums every instance's reports; nobody else builds these.
 */

/** What a gateway counts: events JetStream stored (every ingest route, Segment's included), not a retry's again. */
export interface GatewayCounts {
  accepted: number;
}

/** What a consumer counts: events really inserted. Dead letters are read from the DLQ itself, not reported. */
export interface ConsumerCounts {
  stored: number;
}

export const newConsumerCounts = (): ConsumerCounts => ({ stored: 0 });

interface ReportIdentity {
  /** A UUID the process drew at start: a restarted process is a new instance, its counts start from 0. */
  instance: string;
  startedAt: number;
  /** When the counts were read, by the reporting process's clock (ms since the epoch). */
  at: number;
}

export type PipelineReport =
  | (ReportIdentity & { role: "gateway" } & GatewayCounts)
  | (ReportIdentity & { role: "consumer" } & ConsumerCounts);
export type PipelineRole = PipelineReport["role"];

const count = v.pipe(v.number(), v.integer(), v.minValue(0));
const instant = v.pipe(v.string(), v.isoTimestamp(), v.transform(Date.parse));
const identity = { instance: v.pipe(v.string(), v.uuid()), started_at: instant, at: instant };

const reportSchema = v.variant("role", [
  v.object({ role: v.literal("gateway"), ...identity, accepted: count }),
  v.object({ role: v.literal("consumer"), ...identity, stored: count }),
]);

const iso = (ms: number) => new Date(ms).toISOString();

/** The report's key in the bucket: one per process, so instances never overwrite each other. */
export const pipelineReportKey = (report: Pick<PipelineReport, "role" | "instance">) =>
  `${report.role}.${report.instance}`;

export function encodePipelineReport(report: PipelineReport): string {
  const common = { instance: report.instance, started_at: iso(report.startedAt), at: iso(report.at) };
  if (report.role === "gateway") return JSON.stringify({ role: report.role, ...common, accepted: report.accepted });
  return JSON.stringify({ role: report.role, ...common, stored: report.stored });
}

/** The report, or a ValiError when the entry is not one (written by another version, say). */
export function decodePipelineReport(data: Uint8Array): PipelineReport {
  const wire = v.parse(reportSchema, JSON.parse(new TextDecoder().decode(data)));
  const common = { instance: wire.instance, startedAt: wire.started_at, at: wire.at };
  if (wire.role === "gateway") return { role: wire.role, ...common, accepted: wire.accepted };
  return { role: wire.role, ...common, stored: wire.stored };
}

/** How often every gateway and consumer reports; the gateway judges an instance gone after 3 missed reports. */
export const pipelineReportEnv = { PIPELINE_REPORT_INTERVAL_MS: integerVar(2000, 100, 60_000) };

/** Reports of a process gone are dropped by the bucket after this, so dead instances vanish without a delete. */
export const pipelineReportMaxAgeMs = 10 * 60 * 1000;

export const openPipelineReportsBucket = (
  js: JetStreamClient,
  names: NatsNames,
  replication?: Replication,
): Promise<KV> => openBucket(js, names.pipelineReportsBucket, { history: 1, ttl: pipelineReportMaxAgeMs }, replication);

export interface PipelineReporterDeps {
  kv: Pick<KV, "put">;
  /** The report as of now. */
  snapshot: () => PipelineReport;
  intervalMs: number;
  log: Logger;
}

/**
 * Puts the process's report every interval, and once more at stop. A tick while the last put is still under
 * way (NATS slow) is skipped rather than queued. A failed put never reaches the service: it warns once per run
 * of failures, and the next tick tries again with the newer counts.
 */
export function startPipelineReporter(deps: PipelineReporterDeps): { stop(): Promise<void> } {
  let inFlight: Promise<void> | undefined;
  let failing = false;
  const put = async () => {
    try {
      const report = deps.snapshot();
      await deps.kv.put(pipelineReportKey(report), encodePipelineReport(report));
      if (failing) deps.log.info("pipeline report written again");
      failing = false;
    } catch (err) {
      if (!failing) deps.log.warn({ err }, "could not write the pipeline report; will retry");
      failing = true;
    }
  };
  const tick = () => {
    if (inFlight) return;
    inFlight = put().finally(() => {
      inFlight = undefined;
    });
  };
  const timer = setInterval(tick, deps.intervalMs);
  timer.unref();
  tick();
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      await put();
    },
  };
}
