import { type DestinationStream, type LevelWithSilent, type Logger, pino } from "pino";

export type { Logger } from "pino";

export function createLogger(
  options: { service: string; level: LevelWithSilent },
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level: options.level,
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      // "level":"info" rather than 30: readable by people and by log shippers without a mapping table.
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ["headers.authorization", 'headers["x-api-key"]', "apiKey", "*.apiKey"],
        censor: "[redacted]",
      },
    },
    // Lines are gathered into writes of 4 KiB, and whatever is gathered goes out every 100 ms: one write per
    // line was a pipe write and a wake-up of its reader per request (ADR §46). pino flushes what is left
    // synchronously when the process exits; only a SIGKILL loses the last 100 ms of lines.
    destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 }),
  );
}
