import { sql } from "kysely";
import { startNatsCluster } from "../support/nats-cluster.ts";
import { createTestPipeline, type TestPipeline } from "../support/pipeline.ts";
import { type LogLine, startNatsServer } from "../support/processes.ts";
import { type DiskUsage, measureDisk, walBytesSince, walPosition } from "./disk.ts";
import { ingestPhase, loadGeneratorGroup, type PhaseOptions, type PhaseResult, postgresGroup } from "./phase.ts";
import { pidListeningOn, pidsNamed } from "./process-stats.ts";
import {
  type BenchRun,
  type BenchServices,
  batchPhaseOptions,
  serviceWarnings,
  startBenchServices,
  warmUp,
} from "./services.ts";
import type { BenchSettings } from "./settings.ts";

/** The NATS setups compared: a private single server (R1) and a three-node cluster with NATS_REPLICAS=3. */
export const replicationSetups = ["single", "r3"] as const;
export type ReplicationSetup = (typeof replicationSetups)[number];
export const setupLabels: Record<ReplicationSetup, string> = {
  single: "single node (R1)",
  r3: "3-node cluster (R3)",
};
/** The setup's own nats-server processes: one, or the cluster's three together. */
export const setupNatsGroup = "nats-server (the setup's)";

/** One setup in one round. */
export interface ClusterRun {
  setup: ReplicationSetup;
  round: number;
  /** The batch load, checked like the main phases: every published event stored exactly once. */
  phase: PhaseResult;
  /** WAL the PostgreSQL server wrote from the start of the load until everything was stored. */
  walBytes: number;
}

export interface ClusterComparison {
  rounds: number;
  durationS: number;
  /** The process groups whose CPU was counted. */
  cpuGroups: string[];
  runs: ClusterRun[];
  /** Each setup's EVENTS stream after the services provisioned it: replicas, leader, current followers. */
  placement: Record<ReplicationSetup, string>;
  /** Each setup's database after its rounds. */
  disk: DiskUsage[];
  /** The services' warnings or errors: a 503 under R3 is not a lost event, but it is worth reading. */
  warnings: string[];
}

interface Setup {
  setup: ReplicationSetup;
  pipeline: TestPipeline;
  services: BenchServices;
  options: PhaseOptions;
  placement: string;
}

/** The EVENTS stream as the setup's services left it; a replica count other than `replicas` is a problem. */
async function placementOf(run: BenchRun, pipeline: TestPipeline, replicas: number): Promise<string> {
  const info = await pipeline.jsm.streams.info(pipeline.names.eventsStream);
  const followers = info.cluster?.replicas ?? [];
  const current = followers.filter((follower) => follower.current).length;
  if (info.config.num_replicas !== replicas || current !== replicas - 1) {
    run.problems.push(
      `${pipeline.names.eventsStream}: ${info.config.num_replicas} replicas with ${current} current followers, ` +
        `${replicas} wanted`,
    );
  }
  if (replicas === 1) return `${info.config.num_replicas} replica`;
  return `${info.config.num_replicas} replicas, leader ${info.cluster?.leader ?? "(none)"}, ${current} current followers`;
}

/**
 * A pipeline of its own on the setup's NATS, a gateway and consumer with the setup's NATS_REPLICAS (which create
 * or scale every stream and bucket), warmed up. Its nats-server processes are found by their client ports.
 */
async function startSetup(
  run: BenchRun,
  settings: BenchSettings,
  setup: ReplicationSetup,
  nats: { url: string; ports: number[] },
): Promise<Setup> {
  const replicas = setup === "r3" ? 3 : 1;
  const pipeline = await createTestPipeline({
    natsUrl: nats.url,
    databaseUrl: settings.databaseUrl,
    namespacePrefix: `benchrepl${setup}`,
  });
  run.teardown.push(() => pipeline.cleanup());
  // The pipeline made its streams and keys bucket with one replica; the services scale them and say so.
  const scaled = (line: LogLine) => /scaled from 1 to 3 replica/.test(line.msg ?? "");
  const services = await startBenchServices(run, pipeline, setup === "r3" ? { NATS_REPLICAS: "3" } : {}, scaled);
  const natsPids = nats.ports.map((port) => pidListeningOn(port, pidsNamed("nats-server")));
  const base = batchPhaseOptions(run, settings, services);
  const options: PhaseOptions = {
    ...base,
    durationS: settings.clusterDurationS,
    cpuGroups: {
      gateway: () => [services.gateway.pid],
      consumer: () => [services.consumer.pid],
      [setupNatsGroup]: () => natsPids,
      [postgresGroup]: () => pidsNamed("postgres"),
      [loadGeneratorGroup]: () => [process.pid],
    },
  };
  const placement = await placementOf(run, pipeline, replicas);
  await warmUp(run, pipeline, { ...options, label: `${setupLabels[setup]} warm-up` }, settings.warmupS);
  return { setup, pipeline, services, options, placement };
}

/** A checkpoint first, so neither setup's load pays for the other's dirty pages; WAL counted until all stored. */
async function runSetup(run: BenchRun, { setup, pipeline, options }: Setup, round: number): Promise<ClusterRun> {
  await sql`CHECKPOINT`.execute(pipeline.db);
  const position = await walPosition(pipeline.db);
  const phase = await ingestPhase(pipeline, { ...options, label: `${setupLabels[setup]}, round ${round + 1}` });
  const walBytes = await walBytesSince(pipeline.db, position);
  run.problems.push(...phase.problems);
  return { setup, round, phase, walBytes };
}

/** The setup's database after its rounds, with the WAL of its rounds per stored event. */
function diskOf(runs: readonly ClusterRun[], { setup, pipeline }: Setup): Promise<DiskUsage> {
  const own = runs.filter((run) => run.setup === setup);
  return measureDisk(pipeline.db, setupLabels[setup], {
    bytes: own.reduce((sum, run) => sum + run.walBytes, 0),
    events: own.reduce((sum, run) => sum + run.phase.storedEvents, 0),
  });
}

/**
 * Undo steps of the comparison's own, run at its end so its servers do not idle beside later phases, or by the
 * run's teardown when it fails or is interrupted; either way once.
 */
function ownTeardown(run: BenchRun): { run: BenchRun; finish: () => Promise<void> } {
  const steps: Array<() => Promise<unknown>> = [];
  let finished: Promise<void> | undefined;
  const finish = () => {
    finished ??= (async () => {
      for (let step = steps.pop(); step; step = steps.pop()) {
        await step().catch((err: unknown) => run.progress(`cleanup failed: ${(err as Error).message}`));
      }
    })();
    return finished;
  };
  run.teardown.push(finish);
  return { run: { ...run, teardown: steps }, finish };
}

/**
 * What replication costs: the batch load on a private single nats-server and on a three-node JetStream cluster
 * whose services run with NATS_REPLICAS=3, both started from this machine's binary with their stores on its
 * disk, each with its own pipeline, database, gateway and consumer. Each round loads both, one after the other,
 * the order turned every round (single, R3, R3, single, ...), so the drift of the machine and of the growing
 * tables falls on both alike; each round's ratio compares two loads a minute apart at most.
 */
export async function compareReplication(outer: BenchRun, settings: BenchSettings): Promise<ClusterComparison> {
  const { run, finish } = ownTeardown(outer);
  try {
    run.progress("replication: starting a private nats-server and a three-node cluster");
    const single = await startNatsServer();
    run.teardown.push(() => single.cleanup());
    const cluster = await startNatsCluster(3);
    run.teardown.push(() => cluster.cleanup());
    const setups: Record<ReplicationSetup, Setup> = {
      single: await startSetup(run, settings, "single", { url: single.url, ports: [single.port] }),
      r3: await startSetup(run, settings, "r3", {
        url: cluster.seeds,
        ports: cluster.nodes.map((node) => Number(new URL(node.url).port)),
      }),
    };
    const runs: ClusterRun[] = [];
    for (let round = 0; round < settings.clusterRounds; round++) {
      const order = round % 2 === 0 ? replicationSetups : [...replicationSetups].reverse();
      for (const setup of order) runs.push(await runSetup(run, setups[setup], round));
    }
    const disk = await Promise.all(replicationSetups.map((setup) => diskOf(runs, setups[setup])));
    const services = replicationSetups.map((setup) => setups[setup].services);
    await Promise.all(services.flatMap(({ gateway, consumer }) => [gateway.stop(), consumer.stop()]));
    const warnings = replicationSetups.flatMap((setup) => {
      const { gateway, consumer } = setups[setup].services;
      return serviceWarnings({ gateway, consumer }).map((warning) => `${setupLabels[setup]}: ${warning}`);
    });
    return {
      rounds: settings.clusterRounds,
      durationS: settings.clusterDurationS,
      cpuGroups: Object.keys(setups.single.options.cpuGroups),
      runs,
      placement: { single: setups.single.placement, r3: setups.r3.placement },
      disk,
      warnings,
    };
  } finally {
    await finish();
  }
}
