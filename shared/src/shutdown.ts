import type { Logger } from "./logger.ts";

export interface ShutdownOptions {
  log: Logger;
  timeoutMs: number;
  close: () => Promise<void>;
  signals?: readonly NodeJS.Signals[];
  /** Seams for tests; default to the real process. */
  on?: (signal: NodeJS.Signals, listener: () => void) => void;
  exit?: (code: number) => void;
}

/**
 * The first SIGTERM/SIGINT runs `close` once; it must finish within `timeoutMs` or the process exits 1.
 * A second signal exits at once.
 */
export function installShutdown(options: ShutdownOptions): { trigger: (signal: string) => Promise<void> } {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const on = options.on ?? ((signal, listener) => process.on(signal, listener));
  let running: Promise<void> | undefined;

  const trigger = (signal: string): Promise<void> => {
    if (running) {
      options.log.warn({ signal }, "second signal during shutdown, exiting now");
      exit(1);
      return running;
    }
    options.log.info({ signal }, "shutting down");
    const started = performance.now();
    const timer = setTimeout(() => {
      options.log.error({ timeoutMs: options.timeoutMs }, "shutdown timed out, forcing exit");
      exit(1);
    }, options.timeoutMs);
    running = options.close().then(
      () => {
        clearTimeout(timer);
        options.log.info({ durationMs: Math.round(performance.now() - started) }, "shutdown complete");
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        options.log.error({ err }, "shutdown failed");
        exit(1);
      },
    );
    return running;
  };

  for (const signal of options.signals ?? ["SIGTERM", "SIGINT"]) on(signal, () => void trigger(signal));
  return { trigger };
}
