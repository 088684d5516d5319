import path from "node:path";
import { defaultRealisticParams, type RealisticParams } from "./realistic-workload.ts";

/** The phases BENCH_ONLY may pick. */
const onlyPhases = ["destinations", "cluster", "throughput"] as const;
const workloads = ["realistic", "repeated"] as const;

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
  rawConcurrency: number;
  /**
   * Events per statement of the direct writes: the consumer's default CONSUMER_MAX_WRITE_EVENTS, the most it
   * merges into one write when a backlog lets it, so the limit is the write path at its best.
   */
  directBatchSize: number;
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
  /** BENCH_ONLY=destinations, cluster or throughput runs just that comparison; every phase when unset. */
  only: (typeof onlyPhases)[number] | undefined;
  /** BENCH_WORKLOAD: realistic (default) or the repeated body, the cheap case. */
  workload: (typeof workloads)[number];
  realistic: RealisticParams;
  /** Rounds of BENCH_ONLY=throughput: end to end, direct storeEvents and direct insertEvents each once a round. */
  throughputRounds: number;
  /** Single events at a steady rate (not saturation), for the latency of the 202. */
  steadyRate: number;
  /**
   * Seconds at the steady rate before the measured steady phase: it follows saturation, and the services'
   * heaps and the stream need a moment to leave it behind (#16: the first seconds were the slowest).
   */
  steadyWarmupS: number;
  steadyDurationS: number;
  /** BENCH_CPU_PROF: a directory for `--cpu-prof` profiles of the gateway and consumer; none when unset. */
  cpuProfileDir: string | undefined;
}

function integerEnv(env: Record<string, string | undefined>, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return value;
}

function choiceEnv<T extends string>(name: string, raw: string | undefined, choices: readonly T[]): T | undefined {
  if (raw === undefined || raw === "") return undefined;
  const choice = choices.find((value) => value === raw);
  if (!choice) throw new Error(`${name} must be one of ${choices.join(", ")} or unset, got "${raw}"`);
  return choice;
}

function realisticEnv(env: Record<string, string | undefined>): RealisticParams {
  const defaults = defaultRealisticParams;
  return {
    ...defaults,
    seed: integerEnv(env, "BENCH_SEED", defaults.seed, 0),
    population: integerEnv(env, "BENCH_USERS", defaults.population, 1),
    eventNames: integerEnv(env, "BENCH_EVENT_NAMES", defaults.eventNames, 1),
    metadataBytes: integerEnv(env, "BENCH_METADATA_BYTES", defaults.metadataBytes, 16),
  };
}

/** `pnpm bench` writes nothing into the repository, profiles included. */
function profileDirEnv(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === "") return undefined;
  const directory = path.resolve(raw);
  const repoRoot = path.resolve(import.meta.dirname, "..", "..");
  if (directory === repoRoot || directory.startsWith(`${repoRoot}${path.sep}`)) {
    throw new Error(`BENCH_CPU_PROF must be a directory outside the repository, got "${raw}"`);
  }
  return directory;
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
    // The consumer's default CONSUMER_CONCURRENCY: the same number of connections inserting at once.
    rawConcurrency: integerEnv(env, "BENCH_RAW_CONCURRENCY", 4, 1),
    directBatchSize: integerEnv(env, "BENCH_DIRECT_BATCH", 2000, 1),
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
    only: choiceEnv("BENCH_ONLY", env.BENCH_ONLY, onlyPhases),
    workload: choiceEnv("BENCH_WORKLOAD", env.BENCH_WORKLOAD, workloads) ?? "realistic",
    realistic: realisticEnv(env),
    throughputRounds: integerEnv(env, "BENCH_ROUNDS", 3, 1),
    steadyRate: integerEnv(env, "BENCH_STEADY_RATE", 1000, 1),
    steadyWarmupS: integerEnv(env, "BENCH_STEADY_WARMUP_S", 5, 0),
    steadyDurationS: integerEnv(env, "BENCH_STEADY_DURATION_S", 10, 1),
    cpuProfileDir: profileDirEnv(env.BENCH_CPU_PROF),
  };
}
