import { parseExposition } from "@evpipe/gateway/testing";
import { describe, expect, it } from "vitest";
import { uniqueId } from "./support/pipeline.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import {
  consumerSettled,
  eventIdOf,
  rudderClient,
  rudderSent,
  segmentClient,
  storedOnce,
  type Wire,
} from "./support/segment-clients.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices({
  privateServer: "nats",
  gatewayEnv: { PUBLISH_TIMEOUT_MS: "500" },
  // A SIGKILLed nats-server can forget the consumer's last acks; those messages come back after ack_wait.
  consumerEnv: { ACK_WAIT_MS: "2000" },
});

/** The gateway's own count of 503 answers to POST /v1/batch. */
async function batch503s(): Promise<number> {
  const text = await (await fetch(`${services.gateway.url}/metrics`)).text();
  return parseExposition(text)
    .filter((sample) => sample.name === "evpipe_http_requests_total")
    .filter(({ labels }) => labels.route === "/v1/batch" && labels.method === "POST" && labels.status === "503")
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** Every message of the user stored exactly once, none dead-lettered, the consumer idle: nothing left to come. */
async function expectStoredOnce(user: string, messageIds: string[]) {
  const { db, jsm, names } = services.pipeline;
  await storedOnce(services.pipeline, messageIds, 30_000);
  await consumerSettled(services.pipeline);
  const rows = await db.selectFrom("events").select("id").where("user_id", "=", user).execute();
  expect(rows.map((row) => row.id).sort()).toEqual([...messageIds].sort());
  expect((await jsm.streams.info(names.dlqStream)).state.messages).toBe(0);
}

const first503 = (wire: Wire) =>
  waitFor("a 503 while NATS is down", () => wire.statuses.includes(503), { timeoutMs: 10_000 });

describe("an SDK retrying through 503 while NATS is down", () => {
  it("analytics-node: its retry of the same batch is accepted once NATS is back, and each message stored once", async () => {
    const user = uniqueId("retry-node-");
    const before = await batch503s();
    await services.nats.kill("SIGKILL");
    const { analytics, wire } = segmentClient(services.gateway.url, services.key, { maxRetries: 10 });
    for (let n = 0; n < 5; n++) analytics.track({ userId: user, event: "retried", properties: { n } });
    const flushed = analytics.closeAndFlush();
    await first503(wire);
    expect(await batch503s()).toBeGreaterThan(before);
    await services.nats.restart();
    await flushed;

    expect(wire.errors.map(String), wire.report()).toEqual([]);
    expect(wire.statuses.at(-1), wire.report()).toBe(200);
    expect(new Set(wire.statuses.slice(0, -1)), wire.report()).toEqual(new Set([503]));
    // Each attempt carried the same batch: the same messageIds.
    const sentIds = wire.requests.map((request) => request.batch.map((message) => message.messageId).join());
    expect(new Set(sentIds).size, wire.report()).toBe(1);
    const ids = wire.messages().map(({ message }) => message.messageId);
    expect(ids).toHaveLength(5);
    // analytics-node's messageIds are not UUIDs: the rows are counted by the event ids they map to.
    await expectStoredOnce(
      user,
      ids.map((id) => eventIdOf(id, services.keyId)),
    );
  });

  it("rudder-sdk-node: its retries of the same batch are accepted once NATS is back, and each message stored once", async () => {
    const user = uniqueId("retry-rudder-");
    await waitFor(
      "the gateway to be ready",
      async () => (await fetch(`${services.gateway.url}/readyz`)).status === 200,
    );
    await services.nats.kill("SIGKILL");
    const { client, wire } = rudderClient(services.gateway.url, services.key, { retryCount: 10 });
    // Its first call goes out at once and is retried; the other two go on flush(), after the first is done.
    const calls = [0, 1, 2].map((n) =>
      rudderSent((done) => client.track({ userId: user, event: "retried", properties: { n } }, done)),
    );
    const flushed = client.flush();
    await first503(wire);
    await services.nats.restart();
    await flushed;
    await Promise.all(calls);

    expect(wire.errors.map(String), wire.report()).toEqual([]);
    expect(new Set(wire.statuses), wire.report()).toEqual(new Set([503]));
    const firstBatch = wire.requests.filter((request) => request.batch.length === 1);
    expect(firstBatch.length, wire.report()).toBe(wire.statuses.length + 1);
    expect(new Set(firstBatch.map((request) => request.batch[0]?.messageId)).size).toBe(1);
    const ids = wire.messages().map(({ message }) => message.messageId);
    expect(ids).toHaveLength(3);
    await expectStoredOnce(user, ids);
  });
});
