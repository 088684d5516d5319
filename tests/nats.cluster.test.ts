import { randomUUID } from "node:crypto";
import { verifyRollups } from "@evpipe/db";
import { destinationNames } from "@evpipe/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { events, postJson } from "./support/http.ts";
import { type ClusterNode, type NatsCluster, startNatsCluster } from "./support/nats-cluster.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { type RunningService, runOps, runService, startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

// Three nats-server processes on loopback with their own stores: RAFT, leaders and elections as in production.
let cluster: NatsCluster;
let pipeline: TestPipeline;
let key: string;
const services: RunningService[] = [];
const clusterEnv = { NATS_REPLICAS: "3", PUBLISH_TIMEOUT_MS: "2000" };

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  // The pipeline's own setup makes the streams and the keys bucket with one replica: the services must scale them.
  pipeline = await createTestPipeline({ natsUrl: cluster.seeds });
  key = (await pipeline.createKey(["ingest"])).key;
  services.push(
    ...(await Promise.all([
      startService("gateway", pipeline.serviceEnv(clusterEnv)),
      startService("consumer", pipeline.serviceEnv(clusterEnv)),
    ])),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(services.map((service) => service.stop()));
  await Promise.all(cluster?.nodes.map((node) => node.restart()) ?? []);
  await cluster?.waitForJetStream().catch(() => undefined);
  await pipeline?.cleanup();
  await cluster?.cleanup();
}, 60_000);

/** Every stream of this run's namespace (the project's streams and the buckets' KV_ streams) with its replicas. */
async function replicasByStream(): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for await (const info of pipeline.jsm.streams.list()) {
    if (info.config.name.includes(pipeline.namespace)) found[info.config.name] = info.config.num_replicas;
  }
  return found;
}

interface LoadResult {
  accepted: string[];
  statuses: Map<number, number>;
  /** Batches answered 202: each is one EVENTS message, however many times it was sent. */
  batches: number;
  /** The longest time between two 202s, in ms, and when the gap ended. */
  longestGapMs: number;
}

/**
 * Keep-alive senders, each sending 50-event batches with ids of its own and retrying a refused batch with the
 * same ids until it gets its 202, as a producer following the contract does.
 */
function startLoad(gateways: () => readonly RunningService[], senders = 6) {
  const result: LoadResult = { accepted: [], statuses: new Map(), batches: 0, longestGapMs: 0 };
  let sending = true;
  let last202 = Date.now();
  const sendOne = async (sender: number) => {
    const batch = events(50).map((event) => ({ ...event, id: randomUUID() }));
    for (let attempt = 0; ; attempt++) {
      const targets = gateways();
      const gateway = targets[(sender + attempt) % targets.length] as RunningService;
      const res = await postJson(gateway.url, "/v1/events/batch", { events: batch }, { "x-api-key": key }).catch(
        () => ({ status: 0 }),
      );
      result.statuses.set(res.status, (result.statuses.get(res.status) ?? 0) + 1);
      if (res.status === 202) {
        const now = Date.now();
        result.longestGapMs = Math.max(result.longestGapMs, now - last202);
        last202 = now;
        result.accepted.push(...batch.map((event) => event.id));
        result.batches++;
        return;
      }
      expect([0, 503], `status ${res.status}`).toContain(res.status);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const done = Promise.all(
    Array.from({ length: senders }, async (_, sender) => {
      while (sending) await sendOne(sender);
    }),
  );
  return {
    result,
    async stop() {
      sending = false;
      await done;
      return result;
    },
  };
}

/** Kills the EVENTS leader once load flows, starts a second gateway meanwhile, restarts the node. */
async function loseTheLeader(load: LoadResult, gateways: RunningService[]) {
  await waitFor("accepted load before the kill", () => load.accepted.length >= 3000, { timeoutMs: 30_000 });
  const leaderName = (await pipeline.jsm.streams.info(pipeline.names.eventsStream)).cluster?.leader;
  const leader = cluster.node(leaderName ?? "?");
  await leader.kill("SIGKILL");
  const killedAt = load.accepted.length;

  // A second gateway whose first seed is the dead node connects to another and takes its share of the load.
  const others = cluster.nodes.filter((node) => node !== leader).map((node) => node.url);
  const second = await startService(
    "gateway",
    pipeline.serviceEnv({ ...clusterEnv, NATS_URL: [leader.url, ...others].join(",") }),
    // It starts during the election: its first JetStream requests wait for a leader.
    { readyTimeoutMs: 60_000 },
  );
  services.push(second);
  gateways.push(second);
  await waitFor("202s again after the election", () => load.accepted.length >= killedAt + 3000, {
    timeoutMs: 60_000,
  });

  await leader.restart();
  await cluster.waitForJetStream();
  const restartedAt = load.accepted.length;
  await waitFor("load after the restart", () => load.accepted.length >= restartedAt + 2000, { timeoutMs: 30_000 });
  return { leader, second };
}

describe("a three-node JetStream cluster with NATS_REPLICAS=3", () => {
  it("has every stream and bucket the services provision at three replicas, the ones made with one scaled up", async () => {
    const replicas = await replicasByStream();
    const destinations = destinationNames(pipeline.namespace);
    expect(replicas).toEqual({
      [pipeline.names.eventsStream]: 3,
      [pipeline.names.dlqStream]: 3,
      [pipeline.names.dlqAuditStream]: 3,
      [`KV_${pipeline.names.keysBucket}`]: 3,
      [`KV_${pipeline.names.keyUsageBucket}`]: 3,
      [`KV_${pipeline.names.writerHistoryBucket}`]: 3,
      [`KV_${pipeline.names.pipelineReportsBucket}`]: 3,
      // The gateway reads them for GET /v1/pipeline, made when missing as the forwarder makes them.
      [`KV_${destinations.bucket}`]: 3,
      [`KV_${destinations.statusBucket}`]: 3,
    });
    expect(Object.keys(replicas)).not.toContain(destinations.dlqStream);
    // The writer's durable consumer follows its stream: a leader and two followers.
    const writer = await pipeline.jsm.consumers.info(pipeline.names.eventsStream, pipeline.names.writerConsumer);
    expect(writer.cluster?.leader).toBeTruthy();
    expect(writer.cluster?.replicas?.length).toBe(2);
    // Whichever service came first scaled EVENTS up, and said so.
    const scaled = `stream ${pipeline.names.eventsStream} scaled from 1 to 3 replica(s)`;
    expect(services.some((service) => service.lines.some((line) => line.msg === scaled))).toBe(true);
  });

  it("refuses more replicas than servers, and a scale-down nobody asked for, with one line naming the stream", async () => {
    const gateway = await runService("gateway", pipeline.serviceEnv({ ...clusterEnv, NATS_REPLICAS: "5" }));
    expect(gateway.code).toBe(1);
    const fatal = gateway.lines.filter((line) => line.level === "fatal");
    expect(fatal.map((line) => line.msg)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^stream ${pipeline.names.eventsStream} has 3 replica\\(s\\) and NATS_REPLICAS asks for 5; JetStream refused`,
        ),
      ),
    ]);
    // Started without the cluster's settings, a service stops rather than drop the copies.
    const unset = await runService("gateway", pipeline.serviceEnv({ PUBLISH_TIMEOUT_MS: "2000" }));
    expect(unset.code).toBe(1);
    expect(unset.lines.filter((line) => line.level === "fatal").map((line) => line.msg)).toEqual([
      `stream ${pipeline.names.eventsStream} has 3 replicas and NATS_REPLICAS is not set (1 by default): set NATS_REPLICAS=3 to keep them, or NATS_REPLICAS=1 to scale it down`,
    ]);
    const ops = await runOps(["provision"], pipeline.serviceEnv({ NATS_REPLICAS: "5" }));
    expect(ops.code, ops.stderr).toBe(1);
    expect(ops.stderr).toMatch(/^ops: stream \S+ has 3 replica\(s\) and NATS_REPLICAS asks for 5; JetStream refused/);
    expect(ops.stderr.trim().split("\n")).toHaveLength(1);
    // Nothing was changed by the refused runs.
    expect(new Set(Object.values(await replicasByStream()))).toEqual(new Set([3]));
  });

  it("loses nothing when the EVENTS leader is SIGKILLed under load and restarted; a gateway started meanwhile connects", async () => {
    const gateways = [services[0] as RunningService];
    const load = startLoad(() => gateways);
    let killed: { leader: ClusterNode; second: RunningService };
    try {
      killed = await loseTheLeader(load.result, gateways);
    } finally {
      // Stopped on a failure too: senders left running would post into the next test.
      await load.stop().catch(() => undefined);
    }
    const result = load.result;
    console.info(
      `cluster failover: ${result.accepted.length} events accepted, statuses ${JSON.stringify(Object.fromEntries(result.statuses))}, longest gap without a 202 ${result.longestGapMs} ms`,
    );
    const connected = killed.second.lines.find((line) => String(line.msg).startsWith("connected to NATS at"));
    expect(connected?.natsServer, JSON.stringify(connected)).not.toBe(new URL(killed.leader.url).host);
    expect(new Set(result.accepted).size).toBe(result.accepted.length);
    // One EVENTS message per accepted batch: every retry of a batch that was in fact stored was absorbed by the
    // duplicate window across the leader change (the table's primary key would hide a duplicate).
    expect((await pipeline.jsm.streams.info(pipeline.names.eventsStream)).state.messages).toBe(result.batches);
    await waitFor(
      "every accepted event to be stored",
      async () => (await pipeline.storedCount(result.accepted)) === result.accepted.length,
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const total = await pipeline.db
      .selectFrom("events")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    expect(Number(total.n)).toBe(result.accepted.length);
    expect((await pipeline.jsm.streams.info(pipeline.names.dlqStream)).state.messages).toBe(0);
    expect(await verifyRollups(pipeline.db)).toEqual([]);
  }, 240_000);

  it("ops provision scales every stream and bucket down to NATS_REPLICAS=1 and back up to 3, the stored events kept", async () => {
    const before = (await pipeline.jsm.streams.info(pipeline.names.eventsStream)).state.messages;
    const down = await runOps(["provision", "--json"], pipeline.serviceEnv({ NATS_REPLICAS: "1" }));
    expect(down.code, down.stderr).toBe(0);
    const rows = JSON.parse(down.stdout) as Array<{ stream: string; replicas: number }>;
    // The project's 3 streams, the destinations' 2 and 7 buckets: all of them, each at one replica.
    expect(rows).toHaveLength(12);
    expect(new Set(rows.map((row) => row.replicas))).toEqual(new Set([1]));
    expect(down.stderr).toMatch(new RegExp(`stream ${pipeline.names.eventsStream} scaled from 3 to 1 replica`));
    const writerFollowers = async () =>
      (await pipeline.jsm.consumers.info(pipeline.names.eventsStream, pipeline.names.writerConsumer)).cluster?.replicas
        ?.length ?? 0;
    // The writer's durable consumer follows its stream down and back up.
    await waitFor("the writer's consumer to follow EVENTS to one replica", async () => (await writerFollowers()) === 0);

    const up = await runOps(["provision", "--json"], pipeline.serviceEnv({ NATS_REPLICAS: "3" }));
    expect(up.code, up.stderr).toBe(0);
    expect(new Set((JSON.parse(up.stdout) as Array<{ replicas: number }>).map((row) => row.replicas))).toEqual(
      new Set([3]),
    );
    await waitFor(
      "the writer's consumer to follow EVENTS to three replicas",
      async () => (await writerFollowers()) === 2,
    );
    expect((await pipeline.jsm.streams.info(pipeline.names.eventsStream)).state.messages).toBe(before);
  }, 120_000);
});
