/** The phases BENCH_ONLY may pick. */
const onlyPhases = ["destinations", "cluster"] as const;

export interface BenchSettings {
  natsUrl: string;
  /** Server URL; each pipeline derives its own database from it. */
  databaseUrl: string;
  batchDurationS: number;
  batchSize: number;
  batchConnections: number;
  singleDurationS: number;
  singleConnections: number;
  warmupS: number;
  rawEvents: number;
  rawConcurrency: number;
  catchUpTimeoutS: number;
  /** Rounds of the metrics on/off comparison (each mode once per round); 0 skips it. */
  metricsRounds: number;
  /** Seconds of load per phase of a comparison round. */
  metricsRoundS: number;
  /**
   * Seconds of load for each route of the Segment comparison (own batch, own batch Segment-sized, Segment,
   * Segment gzip) in each of its rounds; 0 skips it.
   */
  segmentDurationS: number;
  /** Rounds of the Segment comparison, each route once per round; 0 skips it. */
  segmentRounds: number;
  /** Seconds of load for each number of destinations (0, 1, 3, 10) in each round; 0 skips the comparison. */
  destinationsDurationS: number;
  /** Rounds of the destinations comparison, every number once per round; 0 skips it. */
  destinationsRounds: number;
  /**
   * Seconds after the load for every destination to receive every event: ten destinations may take minutes to
   * catch up on this machine, which is a finding; an event still missing at the deadline is a failure.
   */
  deliveryTimeoutS: number;
  /**
   * Seconds of load on each NATS setup (a private single node, a three-node cluster at three replicas) in each
   * round of the replication comparison; 0 skips it.
   */
  clusterDurationS: number;
  /** Rounds of the replication comparison, each setup once per round; 0 skips it. */
  clusterRounds: number;
  /** BENCH_ONLY=destinations or cluster runs just that comparison; every phase when unset. */
  only: (typeof onlyPhases)[number] | undefined;
}

function integerEnv(env: Record<string, string | undefined>, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return value;
}

function onlyEnv(raw: string | undefined): BenchSettings["only"] {
  if (raw === undefined || raw === "") return undefined;
  const phase = onlyPhases.find((name) => name === raw);
  if (!phase) throw new Error(`BENCH_ONLY must be one of ${onlyPhases.join(", ")} or unset, got "${raw}"`);
  return phase;
}

export function loadBenchSettings(env: Record<string, string | undefined>): BenchSettings {
  return {
    natsUrl: env.NATS_URL || "nats://127.0.0.1:4222",
    databaseUrl: env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres",
    batchDurationS: integerEnv(env, "BENCH_DURATION_S", 30, 1),
    batchSize: integerEnv(env, "BENCH_BATCH_SIZE", 100, 1),
    batchConnections: integerEnv(env, "BENCH_CONNECTIONS", 16, 1),
    singleDurationS: integerEnv(env, "BENCH_SINGLE_DURATION_S", 15, 1),
    singleConnections: integerEnv(env, "BENCH_SINGLE_CONNECTIONS", 32, 1),
    warmupS: integerEnv(env, "BENCH_WARMUP_S", 3, 0),
    rawEvents: integerEnv(env, "BENCH_RAW_EVENTS", 200_000, 1),
    // The consumer's default CONSUMER_CONCURRENCY: the same number of connections inserting at once.
    rawConcurrency: integerEnv(env, "BENCH_RAW_CONCURRENCY", 4, 1),
    catchUpTimeoutS: integerEnv(env, "BENCH_CATCHUP_TIMEOUT_S", 180, 1),
    metricsRounds: integerEnv(env, "BENCH_METRICS_ROUNDS", 3, 0),
    metricsRoundS: integerEnv(env, "BENCH_METRICS_ROUND_S", 6, 1),
    segmentDurationS: integerEnv(env, "BENCH_SEGMENT_DURATION_S", 5, 0),
    segmentRounds: integerEnv(env, "BENCH_SEGMENT_ROUNDS", 3, 0),
    destinationsDurationS: integerEnv(env, "BENCH_DESTINATIONS_DURATION_S", 10, 0),
    destinationsRounds: integerEnv(env, "BENCH_DESTINATIONS_ROUNDS", 2, 0),
    deliveryTimeoutS: integerEnv(env, "BENCH_DELIVERY_TIMEOUT_S", 600, 1),
    clusterDurationS: integerEnv(env, "BENCH_CLUSTER_DURATION_S", 10, 0),
    clusterRounds: integerEnv(env, "BENCH_CLUSTER_ROUNDS", 2, 0),
    only: onlyEnv(env.BENCH_ONLY),
  };
}
