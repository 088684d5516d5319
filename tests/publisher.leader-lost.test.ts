import { randomUUID } from "node:crypto";
import { createJetStreamPublisher } from "@evpipe/gateway/publisher";
import { connectNats, createLogger, type EnvelopeEvent } from "@evpipe/shared";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClusterNode, type NatsCluster, startNatsCluster } from "./support/nats-cluster.ts";
import { waitFor } from "./support/wait-for.ts";

// Large, so that no assertion below can pass by waiting out the timeout.
const timeoutMs = 10_000;
const fastMs = timeoutMs / 5;
const stream = "LEADER_LOST";
const subject = "leader.lost";

// Three nats-servers with JetStream, routed to each other over loopback.
let cluster: NatsCluster;
let admin: NatsConnection;
// What the test opens, closed here (last opened first) so that a failed assertion leaks nothing.
const closers: Array<() => unknown> = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  admin = await connect({ servers: cluster.nodes.map((node) => node.url) });
  const jsm = await admin.jetstreamManager({ checkAPI: false });
  // JetStream first elects its meta leader: until then adding a stream fails.
  await waitFor(
    "an R3 stream",
    () => jsm.streams.add({ name: stream, subjects: [subject], num_replicas: 3, duplicate_window: 120e9 }),
    { timeoutMs: 30_000, intervalMs: 250 },
  );
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await admin?.close();
  await cluster?.cleanup();
});

const events = (): EnvelopeEvent[] => [
  { id: randomUUID(), event: "e", user_id: "u", received_at: new Date().toISOString(), request_id: "r", key_id: "k" },
];

describe("the JetStream publisher when the stream leader dies on another server of the cluster", () => {
  it("fails the publishes it held at once, answers no responders fast during the election, and publishes after it", async () => {
    const jsm = await admin.jetstreamManager();
    const leaderName = await waitFor(
      "the stream's leader",
      async () => (await jsm.streams.info(stream)).cluster?.leader,
    );
    const leader = cluster.node(leaderName);
    const survivor = cluster.nodes.find((node) => node !== leader) as ClusterNode;
    // The gateway's kind of connection, on a server that stays up: it sees no disconnect.
    const log = createLogger({ service: "t", level: "silent" });
    const nc = await connectNats({ servers: survivor.url, name: "leader-lost", log });
    closers.push(() => nc.close());
    const publisher = createJetStreamPublisher({ nc, subject, timeoutMs, maxInFlight: 4096 });
    closers.push(() => publisher.close());
    await publisher.publish(events(), "warm");

    // A stopped leader takes the routed messages and answers none: they are in flight when it dies.
    leader.signal("SIGSTOP");
    const held = Array.from({ length: 20 }, events);
    const outcomes = Promise.allSettled(held.map((batch) => publisher.publish(batch, "held")));
    await nc.flush();
    const killAt = performance.now();
    await leader.kill("SIGKILL");
    const settled = await outcomes;
    const failedAfterMs = performance.now() - killAt;

    expect(failedAfterMs).toBeLessThan(fastMs);
    for (const outcome of settled) {
      expect(outcome.status).toBe("rejected");
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({
        name: "PublishError",
        reason: "cluster_changed",
        message: "the NATS cluster changed before the PubAck",
      });
    }

    // Until a new leader is elected nobody takes the subject: each publish is answered at once.
    const answers: Array<{ outcome: string; ms: number }> = [];
    const accepted = await waitFor(
      "a new leader to acknowledge",
      async () => {
        const started = performance.now();
        const outcome = await publisher.publish(events(), "election").then(
          () => "ok",
          (err: Error & { reason?: string }) => `${err.reason}: ${err.message}`,
        );
        answers.push({ outcome, ms: performance.now() - started });
        return outcome === "ok";
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(accepted).toBe(true);
    const summary = JSON.stringify(answers);
    expect(Math.max(...answers.map((answer) => answer.ms)), summary).toBeLessThan(fastMs);
    expect(
      answers.every(({ outcome }) => outcome === "ok" || outcome.startsWith("no_responders: JetStream: 503")),
      summary,
    ).toBe(true);

    // The client's retries, with the same ids: each held message stored once.
    await Promise.all(held.map((batch) => publisher.publish(batch, "retry")));
    await Promise.all(held.map((batch) => publisher.publish(batch, "retry again")));
    // The warm-up, the first acknowledged during the election, and each held one once.
    expect((await jsm.streams.info(stream)).state.messages).toBe(2 + held.length);
  });
});
