import { type RunningService, startService } from "../support/processes.ts";

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
  name: "gateway" | "consumer",
  env: Record<string, string>,
  onUnexpectedExit: (message: string) => void,
): Promise<WatchedService> {
  const service = await startService(name, env);
  let stopping = false;
  const scan = () => {
    for (const line of service.lines) {
      if (!["warn", "error", "fatal"].includes(line.level ?? "")) continue;
      watched.warningCount++;
      if (watched.warnings.length < 3) watched.warnings.push(`${line.msg ?? ""} ${JSON.stringify(line.err ?? "")}`);
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
