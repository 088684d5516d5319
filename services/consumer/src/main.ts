import { createDb } from "@evpipe/db";
import {
  connectNats,
  createHealthApp,
  createLogger,
  exitOnProvisionError,
  installShutdown,
  jetStreamManagerOrExit,
  listenOrExit,
  loadConfigOrExit,
  natsConnected,
  natsNames,
  openFailureHistoryBucket,
  provisionStreams,
  replicationOf,
} from "@evpipe/shared";
import { createAdaptorServer } from "@hono/node-server";
import type { NatsConnection } from "nats";
import { loadConsumerConfig } from "./config.ts";
import { type ConsumerStatus, createConsumer } from "./consumer.ts";
import { consumerReadiness } from "./health.ts";
import { startJetStreamSampler } from "./jetstream-sampler.ts";
import { createConsumerMetrics } from "./metrics.ts";

const config = loadConfigOrExit("consumer", loadConsumerConfig);

const log = createLogger({ service: "consumer", level: config.logLevel });
let consumer: ReturnType<typeof createConsumer> | undefined;
let nc: NatsConnection | undefined;
const status = (): ConsumerStatus => consumer?.status() ?? { state: "starting", ready: false };
const metrics = config.metricsEnabled ? createConsumerMetrics(status) : undefined;

// Bound before anything else: a port already taken stops the start with one line, before any message is pulled.
const health = createAdaptorServer({
  fetch: createHealthApp(() => consumerReadiness(status(), nc !== undefined && natsConnected(nc)), metrics?.registry)
    .fetch,
});
const healthPort = await listenOrExit(health, config.healthPort, log);

const names = natsNames(config.namespace);
nc = await connectNats({ servers: config.natsUrl, auth: config.natsAuth, name: "evpipe-consumer", log });
const jsm = await jetStreamManagerOrExit(nc, config.natsUrl, log);
await provisionStreams(jsm, names, config.streams, log).catch(exitOnProvisionError(log));
const db = createDb({
  url: config.databaseUrl,
  maxConnections: config.consumerConcurrency + 1,
  applicationName: "evpipe-consumer",
  queryTimeoutMs: config.dbQueryTimeoutMs,
  onConnectionError: (err) => log.warn({ err }, "database connection lost"),
});
const compactionDb = createDb({
  url: config.databaseUrl,
  maxConnections: 1,
  applicationName: "evpipe-consumer-compaction",
  onConnectionError: (err) => log.warn({ err }, "database connection lost"),
});
const js = nc.jetstream();
const historyBucket = await openFailureHistoryBucket(
  js,
  names.writerHistoryBucket,
  config.streams.eventsMaxAgeMs,
  replicationOf(config.streams, log),
).catch(exitOnProvisionError(log));

consumer = createConsumer({
  log,
  js,
  jsm,
  db,
  compactionDb,
  names,
  historyBucket,
  limits: config.limits,
  retryDelayUnitMs: config.retryDelayUnitMs,
  concurrency: config.consumerConcurrency,
  pullBatch: config.consumerPullBatch,
  maxWriteEvents: config.consumerMaxWriteEvents,
  ackWaitMs: config.ackWaitMs,
  probeIntervalMs: config.dbProbeIntervalMs,
  compactIntervalMs: config.rollupCompactIntervalMs,
  metrics,
  ...(config.faultInjection === "crash-after-dead-letter"
    ? { afterDeadLetter: () => process.kill(process.pid, "SIGKILL") }
    : {}),
});
await consumer.start().catch(exitOnProvisionError(log));
// After start, which provisions the durable consumer the sampler reads.
const sampler =
  metrics && startJetStreamSampler({ jsm, names, gauges: metrics, log, intervalMs: config.metricsSampleIntervalMs });

installShutdown({
  log,
  timeoutMs: config.shutdownTimeoutMs,
  close: async () => {
    await sampler?.stop();
    await consumer?.stop();
    await new Promise<void>((resolve) => health.close(() => resolve()));
    await nc?.drain();
    await db.destroy();
    await compactionDb.destroy();
  },
});
// Logged once consuming: supervisors and tests take this line as "started" (/readyz said "starting" until now).
log.info({ port: healthPort }, "health listening");
