import {
  connectNats,
  createHealthApp,
  createLogger,
  createMissingStreams,
  destinationNames,
  destinationStreamConfigs,
  exitOnProvisionError,
  installShutdown,
  jetStreamManagerOrExit,
  kvHistoryStore,
  listenOrExit,
  loadConfigOrExit,
  natsConnected,
  natsNames,
  openDestinationStatusBucket,
  openDestinationsBucket,
  openFailureHistoryBucket,
  provisionStreamConfigs,
  replicationOf,
  streamConfigs,
} from "@evpipe/shared";
import { createAdaptorServer } from "@hono/node-server";
import type { NatsConnection } from "nats";
import { loadForwarderConfig } from "./config.ts";
import { createForwarder, type Forwarder } from "./forwarder.ts";
import { type ForwarderStatus, forwarderReadiness } from "./health.ts";
import { startLagSampler } from "./lag-sampler.ts";
import { createForwarderMetrics } from "./metrics.ts";
import { destinationSources } from "./provision.ts";
import { StatusBoard } from "./status-board.ts";

const config = loadConfigOrExit("forwarder", loadForwarderConfig);

const log = createLogger({ service: "forwarder", level: config.logLevel });
let forwarder: Forwarder | undefined;
let nc: NatsConnection | undefined;
const status = (): ForwarderStatus => forwarder?.status() ?? { ready: false, destinations: {} };
const metrics = config.metricsEnabled ? createForwarderMetrics() : undefined;

// Bound before anything else: a port already taken stops the start with one line.
const health = createAdaptorServer({
  fetch: createHealthApp(() => forwarderReadiness(status(), nc !== undefined && natsConnected(nc)), metrics?.registry)
    .fetch,
});
const healthPort = await listenOrExit(health, config.healthPort, log);

const names = natsNames(config.namespace);
const destinations = destinationNames(config.namespace);
nc = await connectNats({ servers: config.natsUrl, auth: config.natsAuth, name: "evpipe-forwarder", log });
const jsm = await jetStreamManagerOrExit(nc, config.natsUrl, log);
// EVENTS and the writer's streams are the gateway's and the consumer's to configure: only created if missing.
await createMissingStreams(jsm, streamConfigs(names, config.streams));
const replication = replicationOf(config.streams, log);
await provisionStreamConfigs(jsm, destinationStreamConfigs(destinations, config.streams), replication).catch(
  exitOnProvisionError(log),
);
const js = nc.jetstream();
const openBuckets = async () => ({
  records: await openDestinationsBucket(js, destinations, replication),
  status: await openDestinationStatusBucket(js, destinations, replication),
  attempts: await openFailureHistoryBucket(js, destinations.attemptsBucket, config.streams.eventsMaxAgeMs, replication),
});
const buckets = await openBuckets().catch(exitOnProvisionError(log));
const statusBoard = new StatusBoard(buckets.status, log);

forwarder = createForwarder({
  log,
  js,
  jsm,
  names,
  destinations,
  bucket: buckets.records,
  attempts: kvHistoryStore(buckets.attempts),
  status: statusBoard,
  secretsKey: config.secretsKey,
  policy: { unitMs: config.retryDelayUnitMs, maxRetries: 5 },
  concurrency: config.forwarderConcurrency,
  pullBatch: config.forwarderPullBatch,
  maxInFlight: config.forwarderMaxInFlight,
  timeoutMs: config.deliveryTimeoutMs,
  ackWaitMs: config.ackWaitMs,
  metrics,
});
await forwarder.start().catch(exitOnProvisionError(log));
statusBoard.start(config.statusFlushMs);
const sampler =
  metrics &&
  startLagSampler({
    jsm,
    destinations: () =>
      (forwarder?.names() ?? []).map((name) => ({ name, sources: destinationSources(names, destinations, name) })),
    metrics,
    log,
    intervalMs: config.metricsSampleIntervalMs,
  });

installShutdown({
  log,
  timeoutMs: config.shutdownTimeoutMs,
  close: async () => {
    await sampler?.stop();
    await forwarder?.stop();
    await statusBoard.stop();
    await new Promise<void>((resolve) => health.close(() => resolve()));
    await nc?.drain();
  },
});
// Logged once delivering: supervisors and tests take this line as "started".
log.info({ port: healthPort, destinations: Object.keys(status().destinations) }, "health listening");
