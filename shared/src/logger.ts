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
      redact: {
        paths: ["headers.authorization", 'headers["x-api-key"]', "apiKey", "*.apiKey"],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
