import type { TestPipeline } from "../support/pipeline.ts";
import { type LoadBody, type LoadResult, runLoad } from "./load.ts";
import { type CpuUsage, startCpuSampler, startCpuTotals } from "./process-stats.ts";
import { formatCount } from "./report.ts";
import { runSteadyLoad } from "./steady-load.ts";
import { databaseNow, storedSince, waitForStored, watchBacklog } from "./stored.ts";

/**
 * The CPU group of this process: the load generator (autocannon, or loadtest at a steady rate), the request
 * bodies it makes and the harness. Not part of the pipeline.
 */
export const loadGeneratorGroup = "bench (load generator)";
/** The CPU group of the NATS server, which every consumer of the stream, the writer or a destination, works. */
export const natsGroup = "nats-server (all)";
export const postgresGroup = "postgres (all processes)";

export interface PhaseOptions {
  label: string;
  gatewayUrl: string;
  apiKey: string;
  path: string;
  body: LoadBody;
  /** Instead of JSON with the key in X-API-Key. */
  headers?: Record<string, string>;
  eventsPerRequest: number;
  connections: number;
  durationS: number;
  /** A steady rate of requests per second instead of saturation. */
  overallRate?: number;
  catchUpTimeoutS: number;
  cpuGroups: Record<string, () => number[]>;
  signal: AbortSignal;
  progress: (message: string) => void;
}

export interface PhaseResult {
  load: LoadResult;
  acceptedEvents: number;
  /** Events that reached the stream: the accepted ones plus those abandoned in flight at the cutoff. */
  publishedEvents: number;
  storedEvents: number;
  timedOut: boolean;
  firstStored: Date | null;
  lastStored: Date | null;
  peakBacklogMessages: number;
  /** While the load ran. */
  cpu: CpuUsage;
  /** Each group's CPU seconds from the start of the load until everything published was stored. */
  cpuSecondsToStored: Record<string, number>;
  /** Lost, extra or unstored events: a real failure, unlike a missed target. */
  problems: string[];
}

/**
 * Loads the gateway for the phase's duration, then waits for the consumer to store everything that was
 * published, and checks that exactly that was stored. The consumer must be idle when the phase starts:
 * its events are told apart by `stored_at`.
 */
export async function ingestPhase(pipeline: TestPipeline, options: PhaseOptions): Promise<PhaseResult> {
  options.signal.throwIfAborted();
  const pace = options.overallRate ? `${options.overallRate} req/s` : `${options.connections} connections`;
  options.progress(`${options.label}: ${pace} for ${options.durationS} s`);
  const since = await databaseNow(pipeline.db);
  const publishedBefore = await pipeline.publishedCount();
  const backlog = watchBacklog(pipeline);
  const cpu = startCpuSampler(options.cpuGroups);
  const cpuTotals = startCpuTotals(options.cpuGroups);
  const loadOptions = {
    url: options.gatewayUrl,
    apiKey: options.apiKey,
    body: options.body,
    ...(options.headers ? { headers: options.headers } : {}),
    connections: options.connections,
    durationS: options.durationS,
  };
  const running = options.overallRate
    ? runSteadyLoad(options.path, { ...loadOptions, overallRate: options.overallRate })
    : runLoad(options.path, loadOptions);
  const abort = () => running.stop();
  options.signal.addEventListener("abort", abort);
  const load = await running.done.finally(() => options.signal.removeEventListener("abort", abort));
  const cpuUsage = cpu.stop();

  // One message per request: the gateway splits an envelope only near NATS's max_payload, far above these
  // bodies. Were it to split, stored would fall short of this count and the run would fail, not pass silently.
  const publishedEvents = async () => ((await pipeline.publishedCount()) - publishedBefore) * options.eventsPerRequest;
  // Requests abandoned in flight at the cutoff finish within their latency; give them that before counting.
  await new Promise((resolve) => setTimeout(resolve, Math.min(5000, Math.max(500, 2 * load.latencyMs.max))));
  options.progress(
    `${options.label}: waiting for the consumer to store ${formatCount(await publishedEvents())} events`,
  );
  const { published, timedOut } = await waitForStored(pipeline, since, publishedEvents, options.catchUpTimeoutS * 1000);
  const cpuSecondsToStored = cpuTotals.stop();
  const peakBacklogMessages = backlog.stop();
  const stored = await storedSince(pipeline.db, since);
  const acceptedEvents = load.accepted * options.eventsPerRequest;

  const problems: string[] = [];
  if (timedOut) {
    problems.push(`only ${stored.count} of ${published} published events stored after ${options.catchUpTimeoutS} s`);
  } else if (stored.count !== published) {
    problems.push(`${stored.count} events stored but ${published} published`);
  }
  if (stored.count < acceptedEvents)
    problems.push(`${acceptedEvents} events accepted (2xx) but ${stored.count} stored`);
  if (load.accepted === 0) problems.push("no request was accepted");

  return {
    load,
    acceptedEvents,
    publishedEvents: published,
    storedEvents: stored.count,
    timedOut,
    firstStored: stored.first,
    lastStored: stored.last,
    peakBacklogMessages,
    cpu: cpuUsage,
    cpuSecondsToStored,
    problems: problems.map((problem) => `${options.label}: ${problem}`),
  };
}
