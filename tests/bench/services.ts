import type { TestPipeline } from "../support/pipeline.ts";
import { type LogLine, type RunningService, type ServiceName, startService } from "../support/processes.ts";
import { ingestPhase, loadGeneratorGroup, natsGroup, type PhaseOptions, postgresGroup } from "./phase.ts";
import { pidsNamed } from "./process-stats.ts";
import type { BenchSettings } from "./settings.ts";
import { benchWorkload } from "./workload.ts";

/**
 * EVENTS_MAX_BYTES for every bench service: above what a full run publishes, so a full stream (503) can't cut
 * the run short. Every service provisions the stream, so all of them must be given the same cap.
 */
export const benchEventsMaxBytes = String(8 * 1024 ** 3);

export interface WatchedService {
  service: RunningService;
  pid: number;
  warningCount: number;
  /** The first few warning or error lines, for the report. */
  warnings: string[];
  stop(): Promise<void>;
}

/**
 * Starts a service and keeps the harness light: every half second its parsed log lines are scanned for
 * warnings and dropped, so millions of request lines do not pile up in this process. A warning the run causes
 * on purpose (`expected`) is not counted: it would take the place of one worth reading.
 */
export async function startWatched(
  name: ServiceName,
  env: Record<string, string>,
  onUnexpectedExit: (message: string) => void,
  expected: (line: LogLine) => boolean = () => false,
): Promise<WatchedService> {
  // Only lines that may be warnings are parsed: JSON-parsing every request's line would load the harness,
  // which shares the machine with what it measures, by thousands of lines a second.
  const service = await startService(name, env, { keepLine: (raw) => !/"level":"(?:info|debug|trace)"/.test(raw) });
  let stopping = false;
  const scan = () => {
    for (const line of service.lines) {
      if (!["warn", "error", "fatal"].includes(line.level ?? "") || expected(line)) continue;
      watched.warningCount++;
      // The first few different messages, each with its error's message: stacks would bury them.
      const err = line.err as { message?: string } | undefined;
      const text = `${line.msg ?? ""}${err ? ` (${err.message ?? JSON.stringify(err)})` : ""}`;
      if (watched.warnings.length < 3 && !watched.warnings.includes(text)) watched.warnings.push(text);
    }
    service.lines.length = 0;
  };
  const timer = setInterval(scan, 500);
  void service.exited.then((code) => {
    if (!stopping) onUnexpectedExit(`${name} exited with code ${code} during the run`);
  });
  const watched: WatchedService = {
    service,
    // startService resolved only after the child logged readiness, so it was spawned and has a pid.
    pid: service.child.pid as number,
    warningCount: 0,
    warnings: [],
    async stop() {
      stopping = true;
      clearInterval(timer);
      await service.stop();
      scan();
    },
  };
  return watched;
}

/** What every phase shares with the run: where failures go, what to undo at the end, the interrupt, progress. */
export interface BenchRun {
  /** Real failures (lost or extra events, a crashed service); a missed target is not one. */
  problems: string[];
  /** Undone in reverse order, whether the run succeeds, fails or is interrupted. */
  teardown: Array<() => Promise<unknown>>;
  signal: AbortSignal;
  progress: (message: string) => void;
}

export interface BenchServices {
  /** An ingest key for the load generator. */
  key: string;
  gateway: WatchedService;
  consumer: WatchedService;
}

/** Gateway and consumer on a bench pipeline, stopped at teardown; a crash during the run is a problem. */
export async function startBenchServices(
  run: BenchRun,
  pipeline: TestPipeline,
  extraEnv: Record<string, string> = {},
  expectedWarning?: (line: LogLine) => boolean,
): Promise<BenchServices> {
  run.progress(`starting gateway and consumer ${JSON.stringify(extraEnv)}`);
  // The bench measures the pipeline, not the per-key rate limit.
  const { key } = await pipeline.createKey(["ingest"], "bench", { rate: 1_000_000 });
  const env = pipeline.serviceEnv({ EVENTS_MAX_BYTES: benchEventsMaxBytes, ...extraEnv });
  const onExit = (message: string) => run.problems.push(message);
  const gateway = await startWatched("gateway", env, onExit, expectedWarning);
  run.teardown.push(() => gateway.stop());
  const consumer = await startWatched("consumer", env, onExit, expectedWarning);
  run.teardown.push(() => consumer.stop());
  return { key, gateway, consumer };
}

/**
 * The batch phase with BENCH_WORKLOAD's bodies; the warm-up, the single-event phase and the comparisons are
 * variations of it.
 */
export function batchPhaseOptions(run: BenchRun, settings: BenchSettings, services: BenchServices): PhaseOptions {
  const { key, gateway, consumer } = services;
  return {
    label: "batch",
    gatewayUrl: gateway.service.url,
    apiKey: key,
    path: "/v1/events/batch",
    body: benchWorkload(settings).batchBodies(settings.batchSize),
    eventsPerRequest: settings.batchSize,
    connections: settings.batchConnections,
    durationS: settings.batchDurationS,
    catchUpTimeoutS: settings.catchUpTimeoutS,
    cpuGroups: {
      gateway: () => [gateway.pid],
      consumer: () => [consumer.pid],
      [natsGroup]: () => pidsNamed("nats-server"),
      [postgresGroup]: () => pidsNamed("postgres"),
      [loadGeneratorGroup]: () => [process.pid],
    },
    signal: run.signal,
    progress: run.progress,
  };
}

/** Warms a phase's services up for BENCH_WARMUP_S (none at 0); its problems are the run's. */
export async function warmUp(run: BenchRun, pipeline: TestPipeline, options: PhaseOptions, durationS: number) {
  if (durationS === 0) return;
  const warmup = await ingestPhase(pipeline, { ...options, durationS });
  run.problems.push(...warmup.problems);
}

/** Each service's count of warnings or errors and the first few, for the report; none is a failure by itself. */
export function serviceWarnings(services: Record<"gateway" | "consumer", WatchedService>): string[] {
  return Object.entries(services)
    .filter(([, watched]) => watched.warningCount > 0)
    .map(
      ([name, watched]) =>
        `${name} logged ${watched.warningCount} warnings or errors, e.g. ${watched.warnings.join(" | ")}`,
    );
}
