import { integerVar, parseEnv, serviceConfigFrom, serviceEnv } from "@evpipe/shared";
import * as v from "valibot";

export function loadConsumerConfig(env: Record<string, string | undefined>) {
  const parsed = parseEnv(
    {
      ...serviceEnv,
      RETRY_DELAY_UNIT_MS: integerVar(1000, 1, 3_600_000),
      CONSUMER_CONCURRENCY: integerVar(4, 1, 64),
      CONSUMER_PULL_BATCH: integerVar(64, 1, 1000),
      CONSUMER_MAX_WRITE_EVENTS: integerVar(2000, 1, 50_000),
      ACK_WAIT_MS: integerVar(30_000, 1000, 600_000),
      HEALTH_PORT: integerVar(8081, 0, 65535),
      DB_PROBE_INTERVAL_MS: integerVar(1000, 10, 60_000),
      // A hung database (a stopped process, a dead network path) answers nothing: a write gives up after this,
      // pauses the consumer, and its messages go back uncounted. Must stay below ACK_WAIT_MS.
      DB_QUERY_TIMEOUT_MS: integerVar(10_000, 100, 600_000),
      ROLLUP_COMPACT_INTERVAL_MS: integerVar(3_600_000, 1000, 86_400_000),
      // Test seam for the crash-between-dead-letter-and-term test; unset in production.
      FAULT_INJECTION: v.optional(v.picklist(["crash-after-dead-letter"], "must be crash-after-dead-letter")),
      SHUTDOWN_TIMEOUT_MS: integerVar(20_000, 100, 300_000),
    },
    env,
  );
  return {
    ...serviceConfigFrom(parsed),
    retryDelayUnitMs: parsed.RETRY_DELAY_UNIT_MS,
    concurrency: parsed.CONSUMER_CONCURRENCY,
    pullBatch: parsed.CONSUMER_PULL_BATCH,
    maxWriteEvents: parsed.CONSUMER_MAX_WRITE_EVENTS,
    ackWaitMs: parsed.ACK_WAIT_MS,
    healthPort: parsed.HEALTH_PORT,
    probeIntervalMs: parsed.DB_PROBE_INTERVAL_MS,
    queryTimeoutMs: parsed.DB_QUERY_TIMEOUT_MS,
    compactIntervalMs: parsed.ROLLUP_COMPACT_INTERVAL_MS,
    faultInjection: parsed.FAULT_INJECTION,
    shutdownTimeoutMs: parsed.SHUTDOWN_TIMEOUT_MS,
  };
}
