import {
  camelCased,
  integerVar,
  metricsEnabledVar,
  parseConfig,
  serviceConfigFrom,
  serviceEnv,
  wholeNumberText,
} from "@evpipe/shared";
import * as v from "valibot";

/** The consumer's own variables; each is the config field of its camelCase name (ACK_WAIT_MS -> ackWaitMs). */
const consumerEnv = {
  RETRY_DELAY_UNIT_MS: integerVar(1000, 1, 3_600_000),
  CONSUMER_CONCURRENCY: integerVar(4, 1, 64),
  CONSUMER_PULL_BATCH: integerVar(64, 1, 1000),
  CONSUMER_MAX_WRITE_EVENTS: integerVar(2000, 1, 50_000),
  ACK_WAIT_MS: integerVar(30_000, 1000, 600_000),
  HEALTH_PORT: integerVar(8081, 0, 65535),
  DB_PROBE_INTERVAL_MS: integerVar(1000, 10, 60_000),
  // A hung database (a stopped process, a dead network path) answers nothing: a write gives up after this,
  // pauses the consumer, and its messages go back uncounted. Default: 10 s, or half of ACK_WAIT_MS if less.
  DB_QUERY_TIMEOUT_MS: v.optional(wholeNumberText(100, 600_000)),
  ROLLUP_COMPACT_INTERVAL_MS: integerVar(3_600_000, 1000, 86_400_000),
  // Test seam for the crash-between-dead-letter-and-term test; unset in production.
  FAULT_INJECTION: v.optional(v.picklist(["crash-after-dead-letter"], "must be crash-after-dead-letter")),
  SHUTDOWN_TIMEOUT_MS: integerVar(20_000, 100, 300_000),
  METRICS_ENABLED: metricsEnabledVar,
  // How often consumer lag, DLQ depth and stream size are read from JetStream; never per scrape or message.
  // At most 30 s: the stale-sample alert fires after 60 s without one.
  METRICS_SAMPLE_INTERVAL_MS: integerVar(5000, 100, 30_000),
};

const consumerConfig = v.pipe(
  v.object({ ...serviceEnv, ...consumerEnv }),
  v.forward(
    v.check(
      (parsed) => parsed.DB_QUERY_TIMEOUT_MS === undefined || parsed.DB_QUERY_TIMEOUT_MS < parsed.ACK_WAIT_MS,
      "must be below ACK_WAIT_MS: a write must give up before its messages are redelivered",
    ),
    ["DB_QUERY_TIMEOUT_MS"],
  ),
  v.transform((parsed) => ({
    ...serviceConfigFrom(parsed),
    ...camelCased(consumerEnv, parsed),
    dbQueryTimeoutMs: parsed.DB_QUERY_TIMEOUT_MS ?? Math.min(10_000, Math.floor(parsed.ACK_WAIT_MS / 2)),
  })),
);

export type ConsumerConfig = v.InferOutput<typeof consumerConfig>;

/** The configuration, or a ConfigError naming each bad variable. */
export function loadConsumerConfig(env: Record<string, string | undefined>): ConsumerConfig {
  return parseConfig(consumerConfig, env);
}
