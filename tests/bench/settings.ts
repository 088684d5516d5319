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
}

function integerEnv(env: Record<string, string | undefined>, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return value;
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
  };
}
