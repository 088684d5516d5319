import {
  eventLimitsEnv,
  eventLimitsFrom,
  integerVar,
  logLevelVar,
  namespaceVar,
  natsUrlVar,
  parseEnv,
  streamSettingsEnv,
  streamSettingsFrom,
} from "@evpipe/shared";

export function loadGatewayConfig(env: Record<string, string | undefined>) {
  const parsed = parseEnv(
    {
      PORT: integerVar(8080, 0, 65535),
      NATS_URL: natsUrlVar,
      NATS_NAMESPACE: namespaceVar,
      LOG_LEVEL: logLevelVar,
      PUBLISH_TIMEOUT_MS: integerVar(3000, 50, 60_000),
      PUBLISH_MAX_IN_FLIGHT: integerVar(4096, 1, 1_000_000),
      SHUTDOWN_TIMEOUT_MS: integerVar(15_000, 100, 300_000),
      ...eventLimitsEnv,
      ...streamSettingsEnv,
    },
    env,
  );
  return {
    port: parsed.PORT,
    natsUrl: parsed.NATS_URL,
    namespace: parsed.NATS_NAMESPACE,
    logLevel: parsed.LOG_LEVEL,
    publishTimeoutMs: parsed.PUBLISH_TIMEOUT_MS,
    publishMaxInFlight: parsed.PUBLISH_MAX_IN_FLIGHT,
    shutdownTimeoutMs: parsed.SHUTDOWN_TIMEOUT_MS,
    limits: eventLimitsFrom(parsed),
    streams: streamSettingsFrom(parsed),
  };
}

export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;
