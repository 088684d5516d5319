import { type RunningService, type ServiceName, startService } from "../support/processes.ts";

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
 * warnings and dropped, so millions of request lines do not pile up in this process.
 */
export async function startWatched(
  name: ServiceName,
  env: Record<string, string>,
  onUnexpectedExit: (message: string) => void,
): Promise<WatchedService> {
  const service = await startService(name, env);
  let stopping = false;
  const scan = () => {
    for (const line of service.lines) {
      if (!["warn", "error", "fatal"].includes(line.level ?? "")) continue;
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
