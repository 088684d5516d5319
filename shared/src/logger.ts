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
    // Asynchronous writes: under load, lines written while a write is in flight go out together instead of
    // one syscall per line; pino flushes what is left synchronously when the process exits.
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
