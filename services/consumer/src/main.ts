import { randomUUID } from "node:crypto";
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
  newConsumerCounts,
  openFailureHistoryBucket,
  openPipelineReportsBucket,
  provisionStreams,
  replicationOf,
  startPipelineReporter,
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
const replication = replicationOf(config.streams, log);
const historyBucket = await openFailureHistoryBucket(
  js,
  names.writerHistoryBucket,
  config.streams.eventsMaxAgeMs,
  replication,
).catch(exitOnProvisionError(log));
const reportsBucket = await openPipelineReportsBucket(js, names, replication).catch(exitOnProvisionError(log));
const counts = newConsumerCounts();

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
  writeLingerMs: config.consumerWriteLingerMs,
  ackWaitMs: config.ackWaitMs,
  probeIntervalMs: config.dbProbeIntervalMs,
  compactIntervalMs: config.rollupCompactIntervalMs,
  metrics,
  counts,
  ...(config.faultInjection === "crash-after-dead-letter"
    ? { afterDeadLetter: () => process.kill(process.pid, "SIGKILL") }
    : {}),
});
await consumer.start().catch(exitOnProvisionError(log));
// After start, which provisions the durable consumer the sampler reads.
const sampler =
  metrics && startJetStreamSampler({ jsm, names, gauges: metrics, log, intervalMs: config.metricsSampleIntervalMs });
const identity = { role: "consumer", instance: randomUUID(), startedAt: Date.now() } as const;
const reporter = startPipelineReporter({
  kv: reportsBucket,
  intervalMs: config.pipelineReportIntervalMs,
  log,
  snapshot: () => ({ ...identity, at: Date.now(), stored: counts.stored }),
});

installShutdown({
  log,
  timeoutMs: config.shutdownTimeoutMs,
  close: async () => {
    await sampler?.stop();
    await consumer?.stop();
    // After the last writes, so the final report counts them.
    await reporter.stop();
    await new Promise<void>((resolve) => health.close(() => resolve()));
    await nc?.drain();
    await db.destroy();
    await compactionDb.destroy();
  },
});
// Logged once consuming: supervisors and tests take this line as "started" (/readyz said "starting" until now).
log.info({ port: healthPort }, "health listening");
