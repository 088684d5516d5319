import {
  camelCased,
  integerVar,
  metricsEnabledVar,
  parseConfig,
  pipelineReportEnv,
  serviceConfigFrom,
  serviceEnv,
} from "@evpipe/shared";
import * as v from "valibot";

/** The consumer's own variables; each is the config field of its camelCase name (ACK_WAIT_MS -> ackWaitMs). */
const consumerEnv = {
  RETRY_DELAY_UNIT_MS: integerVar(1000, 1, 3_600_000),
  CONSUMER_CONCURRENCY: integerVar(4, 1, 64),
  CONSUMER_PULL_BATCH: integerVar(64, 1, 1000),
  CONSUMER_MAX_WRITE_EVENTS: integerVar(2000, 1, 50_000),
  // A write that is not full waits this long for more messages, so a low rate makes few statements of many
  // events rather than one per message; the events' 202 does not wait for it, only their visibility.
  CONSUMER_WRITE_LINGER_MS: integerVar(20, 0, 1000),
  // How long a crashed consumer's messages wait before another consumer takes them. A live consumer keeps
  // everything it holds alive every third of this, so a short wait costs no redeliveries of slow writes.
  ACK_WAIT_MS: integerVar(5000, 1000, 600_000),
  HEALTH_PORT: integerVar(8081, 0, 65535),
  DB_PROBE_INTERVAL_MS: integerVar(1000, 10, 60_000),
  // A hung database (a stopped process, a dead network path) answers nothing: a write gives up after this,
  // pauses the consumer, and its messages go back uncounted. Its messages are kept alive meanwhile, so it is
  // independent of ACK_WAIT_MS.
  DB_QUERY_TIMEOUT_MS: integerVar(10_000, 100, 600_000),
  ROLLUP_COMPACT_INTERVAL_MS: integerVar(3_600_000, 1000, 86_400_000),
  // Test seam for the crash-between-dead-letter-and-term test; unset in production.
  FAULT_INJECTION: v.optional(v.picklist(["crash-after-dead-letter"], "must be crash-after-dead-letter")),
  SHUTDOWN_TIMEOUT_MS: integerVar(20_000, 100, 300_000),
  METRICS_ENABLED: metricsEnabledVar,
  // How often consumer lag, DLQ depth and stream size are read from JetStream; never per scrape or message.
  // At most 30 s: the stale-sample alert fires after 60 s without one.
  METRICS_SAMPLE_INTERVAL_MS: integerVar(5000, 100, 30_000),
  ...pipelineReportEnv,
};

const consumerConfig = v.pipe(
  v.object({ ...serviceEnv, ...consumerEnv }),
  v.transform((parsed) => ({ ...serviceConfigFrom(parsed), ...camelCased(consumerEnv, parsed) })),
);

export type ConsumerConfig = v.InferOutput<typeof consumerConfig>;

/** The configuration, or a ConfigError naming each bad variable. */
export function loadConsumerConfig(env: Record<string, string | undefined>): ConsumerConfig {
  return parseConfig(consumerConfig, env);
}
