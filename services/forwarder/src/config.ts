import {
  camelCased,
  destinationSecretsKeyVar,
  integerVar,
  metricsEnabledVar,
  parseConfig,
  serviceConfigFrom,
  serviceEnv,
} from "@evpipe/shared";
import * as v from "valibot";

/** The forwarder's own variables; each is the config field of its camelCase name (ACK_WAIT_MS -> ackWaitMs). */
const forwarderEnv = {
  RETRY_DELAY_UNIT_MS: integerVar(1000, 1, 3_600_000),
  // Requests to one destination under way at once.
  FORWARDER_CONCURRENCY: integerVar(4, 1, 64),
  // Messages each destination's pull keeps buffered; all destinations share one connection (destination-worker.ts).
  FORWARDER_PULL_BATCH: integerVar(64, 1, 1000),
  // Messages from EVENTS one destination may hold unacknowledged, retries waiting out their delay included: the
  // bound a destination that keeps failing cannot exceed (its consumer's max_ack_pending), and what it may hold in
  // memory (a worker takes in everything the server hands it, to keep it alive).
  FORWARDER_MAX_IN_FLIGHT: integerVar(256, 1, 100_000),
  DELIVERY_TIMEOUT_MS: integerVar(10_000, 100, 300_000),
  ACK_WAIT_MS: integerVar(30_000, 1000, 600_000),
  HEALTH_PORT: integerVar(8082, 0, 65535),
  // How often each destination's counts and last success or error are written for `destinations list`.
  STATUS_FLUSH_MS: integerVar(2000, 100, 60_000),
  SHUTDOWN_TIMEOUT_MS: integerVar(20_000, 100, 300_000),
  METRICS_ENABLED: metricsEnabledVar,
  // How often each destination's lag is read from JetStream; never per scrape or message.
  METRICS_SAMPLE_INTERVAL_MS: integerVar(5000, 100, 30_000),
};

const forwarderConfig = v.pipe(
  v.object({ ...serviceEnv, ...forwarderEnv, DESTINATION_SECRETS_KEY: destinationSecretsKeyVar }),
  v.forward(
    v.check(
      (parsed) => parsed.DELIVERY_TIMEOUT_MS < parsed.ACK_WAIT_MS,
      "must be below ACK_WAIT_MS: a request must give up before its messages are redelivered",
    ),
    ["DELIVERY_TIMEOUT_MS"],
  ),
  v.transform((parsed) => ({
    ...serviceConfigFrom(parsed),
    ...camelCased(forwarderEnv, parsed),
    secretsKey: parsed.DESTINATION_SECRETS_KEY,
  })),
);

export type ForwarderConfig = v.InferOutput<typeof forwarderConfig>;

/** The configuration, or a ConfigError naming each bad variable. */
export function loadForwarderConfig(env: Record<string, string | undefined>): ForwarderConfig {
  return parseConfig(forwarderConfig, env);
}
