import { defaultStreamSettings, destinationNames, provisionStreams } from "@evpipe/shared";
import { AckPolicy, DiscardPolicy, nanos, RetentionPolicy, StorageType } from "nats";
import { describe, expect, it } from "vitest";
import { newSecretsKey } from "./support/destinations.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { runOps, startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

const hour = 3600 * 1000;
// Settings unlike both the defaults and what the test pipeline provisioned, so a service that kept an existing
// stream's old settings would be caught.
const env = {
  EVENTS_RETENTION_HOURS: "36",
  EVENTS_MAX_BYTES: String(300 * 1024 ** 2),
  DLQ_RETENTION_HOURS: "200",
  DUPLICATE_WINDOW_MS: "180000",
};
const services = usePipelineServices({
  key: { scopes: ["ingest"] },
  gatewayEnv: env,
  consumerEnv: { ...env, ACK_WAIT_MS: "12000", CONSUMER_CONCURRENCY: "3", CONSUMER_PULL_BATCH: "20" },
});

describe("the streams as the services provision them, on a real NATS server", () => {
  it("EVENTS: file storage, limits retention, discard new at the size cap, the configured age and duplicate window", async () => {
    const { config } = await services.pipeline.jsm.streams.info(services.pipeline.names.eventsStream);
    expect(config).toMatchObject({
      subjects: [services.pipeline.names.eventsSubject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.New,
      max_age: nanos(36 * hour),
      max_bytes: 300 * 1024 ** 2,
      duplicate_window: nanos(180_000),
    });
  });

  it("EVENTS_DLQ: file storage, limits retention, the configured age", async () => {
    const { config } = await services.pipeline.jsm.streams.info(services.pipeline.names.dlqStream);
    expect(config).toMatchObject({
      subjects: [services.pipeline.names.dlqSubject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      max_age: nanos(200 * hour),
    });
  });

  it("the writer: a durable pull consumer with explicit acks, no server-side backoff and no delivery limit", async () => {
    const { config } = await services.pipeline.jsm.consumers.info(
      services.pipeline.names.eventsStream,
      services.pipeline.names.writerConsumer,
    );
    expect(config).toMatchObject({
      durable_name: services.pipeline.names.writerConsumer,
      ack_policy: AckPolicy.Explicit,
      filter_subject: services.pipeline.names.eventsSubject,
      ack_wait: nanos(12_000),
      max_deliver: -1,
      max_ack_pending: 3 * 20 * 2,
    });
    // NATS 2.9 lets a server-side backoff override nak(delay): the retry schedule is ours alone.
    expect(config.backoff ?? []).toEqual([]);
    expect(config.deliver_subject, "a pull consumer has no deliver subject").toBeUndefined();
  });

  it("gateway /readyz answers 503 while a stream is missing, and 200 once it is provisioned again", async () => {
    const readyz = async () => {
      const res = await fetch(`${services.gateway.url}/readyz`);
      return { status: res.status, body: await res.json() };
    };
    expect(await readyz()).toEqual({ status: 200, body: { status: "ready", checks: { nats: true, streams: true } } });
    await services.pipeline.jsm.streams.delete(services.pipeline.names.dlqStream);
    expect(await readyz()).toEqual({
      status: 503,
      body: { status: "not_ready", checks: { nats: true, streams: false } },
    });
    await provisionStreams(services.pipeline.jsm, services.pipeline.names, defaultStreamSettings);
    await waitFor("the gateway to report ready again", async () => (await readyz()).status === 200);
  });
});

describe("the destinations' streams as the forwarder provisions them", () => {
  it("caps DESTINATIONS_DLQ, makes DESTINATIONS_REPLAY a work queue, and leaves EVENTS' settings to their owners", async () => {
    const { pipeline } = services;
    const before = (await pipeline.jsm.streams.info(pipeline.names.eventsStream)).config;
    // A forwarder told other EVENTS settings than the gateway's and the consumer's: they must not apply.
    const forwarder = await startService(
      "forwarder",
      pipeline.serviceEnv({
        DESTINATION_SECRETS_KEY: newSecretsKey(),
        EVENTS_MAX_BYTES: String(64 * 1024 ** 2),
        EVENTS_RETENTION_HOURS: "2",
        DESTINATIONS_DLQ_MAX_BYTES: String(32 * 1024 ** 2),
      }),
    );
    try {
      const names = destinationNames(pipeline.namespace);
      const dlq = (await pipeline.jsm.streams.info(names.dlqStream)).config;
      expect(dlq).toMatchObject({
        subjects: [names.dlqSubjects],
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.New,
        max_bytes: 32 * 1024 ** 2,
        max_age: nanos(defaultStreamSettings.dlqMaxAgeMs),
      });
      const replay = (await pipeline.jsm.streams.info(names.replayStream)).config;
      expect(replay).toMatchObject({ subjects: [names.replaySubjects], retention: RetentionPolicy.Workqueue });
      const events = (await pipeline.jsm.streams.info(pipeline.names.eventsStream)).config;
      expect(events).toMatchObject({ max_bytes: before.max_bytes, max_age: before.max_age });
      expect(events.max_bytes).not.toBe(64 * 1024 ** 2);
    } finally {
      await forwarder.stop();
    }
  });
});

describe("ops --help", () => {
  const asks = [["--help"], ["-h"], ["help"], ["dlq", "--help"], ["keys", "create", "--help"]];
  it.each(asks.map((args) => [args.join(" "), args] as const))(
    "ops %s prints the usage on stdout and exits 0",
    async (_, args) => {
      const result = await runOps([...args], services.pipeline.serviceEnv());
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^usage:\npnpm ops /);
      expect(result.stderr).toBe("");
    },
  );
});

describe("gateway log lines for keys", () => {
  it("say when a key is created and when it is revoked, with its id and name, never the key", async () => {
    const { id, key } = await services.pipeline.createKey(["read"], "log-line-key");
    const created = await services.gateway.waitForLog(
      "the key's creation",
      (line) => line.msg === "api key created" && line.keyId === id,
    );
    expect(created).toMatchObject({ level: "info", name: "log-line-key", scopes: ["read"] });
    await services.pipeline.revokeKey(id);
    await services.gateway.waitForLog(
      "the key's revocation",
      (line) => line.msg === "api key revoked" && line.keyId === id,
    );
    expect(JSON.stringify(services.gateway.lines)).not.toContain(key);
  });
});
