import {
  databaseUrlVar,
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
      DATABASE_URL: databaseUrlVar,
      NATS_NAMESPACE: namespaceVar,
      LOG_LEVEL: logLevelVar,
      PUBLISH_TIMEOUT_MS: integerVar(3000, 50, 60_000),
      PUBLISH_MAX_IN_FLIGHT: integerVar(4096, 1, 1_000_000),
      SHUTDOWN_TIMEOUT_MS: integerVar(15_000, 100, 300_000),
      // A client that announces more body than it sends would otherwise hold its connection for 5 minutes.
      REQUEST_TIMEOUT_MS: integerVar(30_000, 100, 600_000),
      KEY_USAGE_FLUSH_MS: integerVar(30_000, 100, 3_600_000),
      ...eventLimitsEnv,
      ...streamSettingsEnv,
    },
    env,
  );
  return {
    port: parsed.PORT,
    natsUrl: parsed.NATS_URL,
    databaseUrl: parsed.DATABASE_URL,
    namespace: parsed.NATS_NAMESPACE,
    logLevel: parsed.LOG_LEVEL,
    publishTimeoutMs: parsed.PUBLISH_TIMEOUT_MS,
    publishMaxInFlight: parsed.PUBLISH_MAX_IN_FLIGHT,
    shutdownTimeoutMs: parsed.SHUTDOWN_TIMEOUT_MS,
    requestTimeoutMs: parsed.REQUEST_TIMEOUT_MS,
    keyUsageFlushMs: parsed.KEY_USAGE_FLUSH_MS,
    limits: eventLimitsFrom(parsed),
    streams: streamSettingsFrom(parsed),
  };
}
