import {
  type DestinationNames,
  type DestinationRecord,
  type HistoryStore,
  type Logger,
  type NatsNames,
  openSecret,
  parseDestinationRecord,
  SecretUnsealable,
  whileJetStreamBusy,
} from "@evpipe/shared";
import type { JetStreamClient, JetStreamManager, KV, KvEntry } from "nats";
import { attemptsScope } from "./attempts.ts";
import type { RetryPolicy } from "./delivery-decision.ts";
import { DestinationWorker } from "./destination-worker.ts";
import { type ForwarderMetrics, forgetDestination, startSeries } from "./metrics.ts";
import { requestPacer } from "./pacer.ts";
import { deleteDestinationConsumers, destinationSources, provisionDestinationConsumers } from "./provision.ts";
import type { StatusBoard } from "./status-board.ts";
import { vendors } from "./vendors/index.ts";

export interface ForwarderDeps {
  log: Logger;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: NatsNames;
  destinations: DestinationNames;
  /** The destinations' configuration, watched. */
  bucket: KV;
  attempts: HistoryStore;
  status: StatusBoard;
  secretsKey: Uint8Array;
  policy: RetryPolicy;
  concurrency: number;
  pullBatch: number;
  maxInFlight: number;
  timeoutMs: number;
  ackWaitMs: number;
  metrics: ForwarderMetrics | undefined;
}

const retryFailedMs = 10_000;

export type DestinationState = "running" | "paused" | "failed";

interface Running {
  record: DestinationRecord;
  state: DestinationState;
  worker?: DestinationWorker;
}

/** The worker delivering one destination, with its secret opened (SecretUnsealable when it does not open). */
function destinationWorker(deps: ForwarderDeps, record: DestinationRecord, onFailure: (reason: string) => void) {
  return new DestinationWorker({
    destination: record.name,
    reader: deps.destinations.consumer(record.name),
    vendor: vendors[record.type],
    target: { url: record.url, secret: openSecret(deps.secretsKey, record.name, record.secret) },
    policy: deps.policy,
    timeoutMs: deps.timeoutMs,
    js: deps.js,
    dlqSubject: deps.destinations.dlqSubject(record.name),
    attempts: deps.attempts,
    status: deps.status,
    metrics: deps.metrics,
    throttle: requestPacer(record.rate),
    log: deps.log,
    sources: destinationSources(deps.names, deps.destinations, record.name),
    events: record.events ? new Set(record.events) : undefined,
    concurrency: deps.concurrency,
    pullBatch: Math.min(deps.pullBatch, deps.maxInFlight),
    ackWaitMs: deps.ackWaitMs,
    attemptsScope: attemptsScope(record.name, record.created_at),
    onFailure,
  });
}

/** What a removed destination leaves: its consumers (its position is no one's now), status and series. */
async function forgetRemoved(deps: ForwarderDeps, name: string): Promise<void> {
  await deleteDestinationConsumers(deps.jsm, destinationSources(deps.names, deps.destinations, name));
  await deps.status.forget(name);
  if (deps.metrics) forgetDestination(deps.metrics, name);
  deps.log.info({ destination: name }, "destination stopped");
}

/**
 * Keeps one DestinationWorker per configured destination in step with the destinations bucket: a destination
 * added, paused, resumed or removed with `pnpm ops destinations` takes effect here within the watch's latency,
 * without a restart. Changes are applied one at a time, in the order the bucket made them.
 */
export function createForwarder(deps: ForwarderDeps) {
  const running = new Map<string, Running>();
  let applying: Promise<void> = Promise.resolve();
  let watch: Awaited<ReturnType<KV["watch"]>> | undefined;
  let ready = false;
  let stopped = false;

  async function stopOne(name: string): Promise<void> {
    const current = running.get(name);
    running.delete(name);
    await current?.worker?.stop();
  }

  async function put(record: DestinationRecord): Promise<void> {
    const current = running.get(record.name);
    if (current && current.state !== "failed" && JSON.stringify(current.record) === JSON.stringify(record)) return;
    await stopOne(record.name);
    const log = { destination: record.name, type: record.type };
    await provisionDestinationConsumers(deps.jsm, deps.names, deps.destinations, record, {
      ackWaitMs: deps.ackWaitMs,
      maxInFlight: deps.maxInFlight,
    });
    await deps.status.track(record.name);
    if (deps.metrics) startSeries(deps.metrics, record.name, record.paused);
    if (record.paused) {
      running.set(record.name, { record, state: "paused" });
      deps.log.info(log, "destination paused");
      return;
    }
    const started = destinationWorker(deps, record, (reason) => {
      deps.log.error({ destination: record.name, reason }, "destination stopped reading; starting it again");
      failed(record);
    });
    // Half started (one of its two consumers pulling): stopped again, so the retry does not pull twice.
    await started.start().catch(async (err: unknown) => {
      await started.stop();
      throw err;
    });
    running.set(record.name, { record, state: "running", worker: started });
    deps.log.info({ ...log, events: record.events, rate: record.rate }, "destination started");
  }

  /** Marks the destination failed and tries it again later, unless its record changes first. */
  function failed(record: DestinationRecord, retry = true): void {
    const current = running.get(record.name);
    if (current && current.record !== record) return;
    running.set(record.name, { ...current, record, state: "failed" });
    if (!retry) return;
    setTimeout(() => {
      if (running.get(record.name)?.record !== record || stopped) return;
      applying = applying.then(() => putOrFail(record));
    }, retryFailedMs).unref();
  }

  async function putOrFail(record: DestinationRecord): Promise<void> {
    try {
      await put(record);
    } catch (err) {
      // A secret that does not open with this key will not open later either: the record must change (remove,
      // add). NATS failing us may pass: say so, keep the others running, and try again.
      const retry = !(err instanceof SecretUnsealable);
      deps.log.error(
        { err, destination: record.name, retryInMs: retry ? retryFailedMs : undefined },
        "destination not started",
      );
      failed(record, retry);
    }
  }

  async function apply(entry: KvEntry): Promise<void> {
    if (entry.operation !== "PUT") {
      await stopOne(entry.key);
      await forgetRemoved(deps, entry.key).catch((err: unknown) =>
        deps.log.error({ err, destination: entry.key }, "destination not cleanly removed"),
      );
      return;
    }
    let record: DestinationRecord;
    try {
      record = parseDestinationRecord(entry.value);
    } catch (err) {
      deps.log.error({ err, destination: entry.key }, "unreadable destination record, ignored");
      return;
    }
    await putOrFail(record);
  }

  return {
    async start(): Promise<void> {
      const { promise: loaded, resolve } = Promise.withResolvers<void>();
      watch = await watchDestinations(deps.bucket, deps.log, () => resolve());
      void (async () => {
        for await (const entry of watch) applying = applying.then(() => apply(entry));
      })();
      await loaded;
      await applying;
      ready = true;
    },
    /** Each destination and what it is doing; ready once the bucket's destinations were started. */
    status: () => ({
      ready,
      destinations: Object.fromEntries([...running].map(([name, { state }]) => [name, state])),
    }),
    /** The destinations the lag sampler reads. */
    names: () => [...running.keys()],
    async stop(): Promise<void> {
      stopped = true;
      watch?.stop();
      await applying;
      await Promise.all([...running.keys()].map(stopOne));
    },
  };
}

export type Forwarder = ReturnType<typeof createForwarder>;

/** The destinations bucket's watch, asked again while the cluster is between leaders (the request times out). */
const watchDestinations = (bucket: KV, log: Logger, initializedFn: () => void) =>
  whileJetStreamBusy("watching the destinations", () => bucket.watch({ initializedFn }), log);
