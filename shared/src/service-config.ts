import type * as v from "valibot";
import { databaseUrlVar, logLevelVar, namespaceVar, natsUrlVar } from "./config.ts";
import { eventLimitsEnv, eventLimitsFrom } from "./limits.ts";
import { streamSettingsEnv, streamSettingsFrom } from "./nats.ts";
import { natsAuthEnv, natsAuthFrom } from "./nats-auth.ts";

/** The variables every service reads, so the gateway and the consumer agree on where things are and on the rules. */
export const serviceEnv = {
  NATS_URL: natsUrlVar,
  ...natsAuthEnv,
  DATABASE_URL: databaseUrlVar,
  NATS_NAMESPACE: namespaceVar,
  LOG_LEVEL: logLevelVar,
  ...eventLimitsEnv,
  ...streamSettingsEnv,
};

/** Throws a ConfigError naming the variables when the NATS credentials contradict each other. */
export function serviceConfigFrom(parsed: v.InferOutput<v.ObjectSchema<typeof serviceEnv, undefined>>) {
  return {
    natsUrl: parsed.NATS_URL,
    natsAuth: natsAuthFrom(parsed),
    databaseUrl: parsed.DATABASE_URL,
    namespace: parsed.NATS_NAMESPACE,
    logLevel: parsed.LOG_LEVEL,
    limits: eventLimitsFrom(parsed),
    streams: streamSettingsFrom(parsed),
  };
}
