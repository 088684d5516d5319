import { createDb } from "@evpipe/db";
import {
  connectNats,
  createLogger,
  installShutdown,
  loadConfigOrExit,
  natsConnected,
  natsNames,
  provisionStreams,
} from "@evpipe/shared";
import { serve } from "@hono/node-server";
import { loadConsumerConfig } from "./config.ts";
import { createConsumer } from "./consumer.ts";
import { createHealthApp } from "./health.ts";
import { openHistoryBucket } from "./provision.ts";

const config = loadConfigOrExit("consumer", loadConsumerConfig);

const log = createLogger({ service: "consumer", level: config.logLevel });
const names = natsNames(config.namespace);
const nc = await connectNats({ servers: config.natsUrl, name: "evpipe-consumer", log });
const jsm = await nc.jetstreamManager();
await provisionStreams(jsm, names, config.streams);
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
const historyBucket = await openHistoryBucket(js, names, config.streams.eventsMaxAgeMs);

const consumer = createConsumer({
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
  ...(config.faultInjection === "crash-after-dead-letter"
    ? { afterDeadLetter: () => process.kill(process.pid, "SIGKILL") }
    : {}),
});
await consumer.start();

const health = serve(
  { fetch: createHealthApp(consumer.status, () => natsConnected(nc)).fetch, port: config.healthPort },
  (info) => log.info({ port: info.port }, "health listening"),
);

installShutdown({
  log,
  timeoutMs: config.shutdownTimeoutMs,
  close: async () => {
    await consumer.stop();
    await new Promise<void>((resolve) => health.close(() => resolve()));
    await nc.drain();
    await db.destroy();
    await compactionDb.destroy();
  },
});
