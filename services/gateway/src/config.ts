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

/** The gateway's own variables; each is the config field of its camelCase name (PORT -> port). */
const gatewayEnv = {
  PORT: integerVar(8080, 0, 65535),
  PUBLISH_TIMEOUT_MS: integerVar(3000, 50, 60_000),
  PUBLISH_MAX_IN_FLIGHT: integerVar(4096, 1, 1_000_000),
  SHUTDOWN_TIMEOUT_MS: integerVar(15_000, 100, 300_000),
  // A client that announces more body than it sends would otherwise hold its connection for 5 minutes.
  REQUEST_TIMEOUT_MS: integerVar(30_000, 100, 600_000),
  KEY_USAGE_FLUSH_MS: integerVar(30_000, 100, 3_600_000),
  METRICS_ENABLED: metricsEnabledVar,
  // GET /v1/pipeline reads JetStream at most this often, however many ask.
  PIPELINE_SAMPLE_INTERVAL_MS: integerVar(2000, 100, 60_000),
  // Above this many dead letters, GET /v1/pipeline answers by_reason null instead of reading their headers.
  PIPELINE_DLQ_TALLY_MAX: integerVar(100_000, 0, 10_000_000),
  ...pipelineReportEnv,
};

const gatewayConfig = v.pipe(
  v.object({ ...serviceEnv, ...gatewayEnv }),
  v.transform((parsed) => ({ ...serviceConfigFrom(parsed), ...camelCased(gatewayEnv, parsed) })),
);

export type GatewayConfig = v.InferOutput<typeof gatewayConfig>;

/** The configuration, or a ConfigError naming each bad variable. */
export function loadGatewayConfig(env: Record<string, string | undefined>): GatewayConfig {
  return parseConfig(gatewayConfig, env);
}
