import { integerVar, parseEnv, serviceConfigFrom, serviceEnv } from "@evpipe/shared";

export function loadGatewayConfig(env: Record<string, string | undefined>) {
  const parsed = parseEnv(
    {
      ...serviceEnv,
      PORT: integerVar(8080, 0, 65535),
      PUBLISH_TIMEOUT_MS: integerVar(3000, 50, 60_000),
      PUBLISH_MAX_IN_FLIGHT: integerVar(4096, 1, 1_000_000),
      SHUTDOWN_TIMEOUT_MS: integerVar(15_000, 100, 300_000),
      // A client that announces more body than it sends would otherwise hold its connection for 5 minutes.
      REQUEST_TIMEOUT_MS: integerVar(30_000, 100, 600_000),
      KEY_USAGE_FLUSH_MS: integerVar(30_000, 100, 3_600_000),
    },
    env,
  );
  return {
    ...serviceConfigFrom(parsed),
    port: parsed.PORT,
    publishTimeoutMs: parsed.PUBLISH_TIMEOUT_MS,
    publishMaxInFlight: parsed.PUBLISH_MAX_IN_FLIGHT,
    shutdownTimeoutMs: parsed.SHUTDOWN_TIMEOUT_MS,
    requestTimeoutMs: parsed.REQUEST_TIMEOUT_MS,
    keyUsageFlushMs: parsed.KEY_USAGE_FLUSH_MS,
  };
}
