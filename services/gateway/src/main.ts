import { randomUUID } from "node:crypto";
import { createDb } from "@evpipe/db";
import {
  connectNats,
  createLogger,
  exitOnProvisionError,
  installShutdown,
  isJetStreamBusy,
  jetStreamManagerOrExit,
  KeyRing,
  KeyUsage,
  listenOrExit,
  loadConfigOrExit,
  natsConnected,
  natsNames,
  openKeysBucket,
  openKeyUsageBucket,
  provisionStreams,
  replicationOf,
  startPipelineReporter,
  streamsExist,
  watchKeys,
  whileJetStreamBusy,
} from "@evpipe/shared";
import { createAdaptorServer } from "@hono/node-server";
import { createApp } from "./app.ts";
import { loadGatewayConfig } from "./config.ts";
import { createGatewayMetrics, meteredPublisher } from "./metrics.ts";
import { countingPublisher } from "./pipeline/accepted-count.ts";
import { openPipelineSummaries } from "./pipeline/open-summaries.ts";
import { createJetStreamPublisher } from "./publisher.ts";
import { createReadStore } from "./read-store.ts";

const config = loadConfigOrExit("gateway", loadGatewayConfig);

const log = createLogger({ service: "gateway", level: config.logLevel });
const names = natsNames(config.namespace);
const nc = await connectNats({ servers: config.natsUrl, auth: config.natsAuth, name: "evpipe-gateway", log });
const replication = replicationOf(config.streams, log);
await provisionStreams(await jetStreamManagerOrExit(nc, config.natsUrl, log), names, config.streams, log).catch(
  exitOnProvisionError(log),
);
// Readiness only: no API check at start, which would stop a gateway started during a leader election.
const probeJsm = await nc.jetstreamManager({ timeout: 1000, checkAPI: false });
const js = nc.jetstream();

const keys = new KeyRing();
const keysBucket = await openKeysBucket(js, names.keysBucket, replication).catch(exitOnProvisionError(log));
const keyWatch = await whileJetStreamBusy("watching the keys", () => watchKeys(keysBucket, keys, log), log);
const usage = new KeyUsage();
const usageBucket = await openKeyUsageBucket(js, names.keyUsageBucket, replication).catch(exitOnProvisionError(log));
const flushUsage = () =>
  usage.flush(usageBucket).catch((err: unknown) => log.warn({ err }, "could not record key usage; will retry"));
const usageTimer = setInterval(flushUsage, config.keyUsageFlushMs);
usageTimer.unref();

// Its own, with the default timeout: the readiness probe's gives up after a second.
const sampleJsm = await nc.jetstreamManager({ checkAPI: false });
// GET /v1/pipeline: the reports of every gateway and consumer (this one's too), and JetStream sampled when asked.
const pipeline = await whileJetStreamBusy(
  "opening the pipeline summary",
  () =>
    openPipelineSummaries({
      js,
      jsm: sampleJsm,
      names,
      namespace: config.namespace,
      log,
      replication,
      refreshMs: config.pipelineSampleIntervalMs,
      reportIntervalMs: config.pipelineReportIntervalMs,
      tallyMax: config.pipelineDlqTallyMax,
    }),
  log,
).catch(exitOnProvisionError(log));
// Counted apart from the metrics, which may be off.
const counts = { accepted: 0 };
const identity = { role: "gateway", instance: randomUUID(), startedAt: Date.now() } as const;
const reporter = startPipelineReporter({
  kv: pipeline.reportsBucket,
  intervalMs: config.pipelineReportIntervalMs,
  log,
  snapshot: () => ({ ...identity, at: Date.now(), accepted: counts.accepted }),
});

const jetStreamPublisher = createJetStreamPublisher({
  nc,
  subject: names.eventsSubject,
  timeoutMs: config.publishTimeoutMs,
  maxInFlight: config.publishMaxInFlight,
});
// METRICS_ENABLED=false: no registry, no middleware, no /metrics (the bench's comparison).
const metrics = config.metricsEnabled ? createGatewayMetrics() : undefined;
const publisher = countingPublisher(
  metrics ? meteredPublisher(jetStreamPublisher, metrics) : jetStreamPublisher,
  counts,
);
// Connects lazily: the gateway starts, and accepts events, without PostgreSQL.
const db = createDb({ url: config.databaseUrl, maxConnections: 4, applicationName: "evpipe-gateway" });
let streamsSeen = false;
const app = createApp({
  log,
  ...createReadStore(db),
  keys,
  usage,
  limits: config.limits,
  publisher,
  pipeline: pipeline.summaries,
  metrics,
  readiness: async () => {
    // Once seen, the streams count as there while the cluster elects a leader (the check times out meanwhile):
    // a balancer would otherwise take every gateway out at once for an election the publisher already rides.
    const streams = await streamsExist(probeJsm, names).then(
      (exist) => (streamsSeen = exist),
      (err: unknown) => streamsSeen && isJetStreamBusy(err),
    );
    const connected = natsConnected(nc);
    return { ready: connected && streams, checks: { nats: connected, streams } };
  },
});

const server = createAdaptorServer({
  fetch: app.fetch,
  serverOptions: {
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: Math.min(config.requestTimeoutMs, 10_000),
    // Node enforces the timeouts only when it checks connections (every 30 s by default).
    connectionsCheckingInterval: Math.min(30_000, Math.max(100, config.requestTimeoutMs / 4)),
  },
});
const port = await listenOrExit(server, config.port, log);
log.info({ port, namespace: config.namespace, keys: keys.size }, "gateway listening");

installShutdown({
  log,
  timeoutMs: config.shutdownTimeoutMs,
  close: async () => {
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    keyWatch.stop();
    clearInterval(usageTimer);
    pipeline.stop();
    await Promise.all([flushUsage(), reporter.stop()]);
    await nc.drain();
    jetStreamPublisher.close();
    await db.destroy();
  },
});
