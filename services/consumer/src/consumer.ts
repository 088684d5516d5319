import { type Database, KnownUsers } from "@evpipe/db";
import {
  type ConsumerCounts,
  createEnvelopeSchema,
  type EventLimits,
  kvHistoryStore,
  type Logger,
  type NatsNames,
  whileJetStreamBusy,
} from "@evpipe/shared";
import { type Kysely, sql } from "kysely";
import type { JetStreamClient, JetStreamManager, KV } from "nats";
import { writeBatch } from "./batch-writer.ts";
import { scheduleCompaction } from "./compaction.ts";
import type { WriterMetrics } from "./metrics.ts";
import { provisionWriterConsumer } from "./provision.ts";
import { WriterLoop } from "./writer-loop.ts";

export interface ConsumerDeps {
  log: Logger;
  js: JetStreamClient;
  jsm: JetStreamManager;
  db: Kysely<Database>;
  /** A connection of its own, without the writes' query timeout: compacting a week can take longer. */
  compactionDb: Kysely<Database>;
  names: NatsNames;
  historyBucket: KV;
  limits: EventLimits;
  retryDelayUnitMs: number;
  /** Writes under way at once; each holds one pool connection. */
  concurrency: number;
  /** Messages the client keeps buffered ahead of processing. */
  pullBatch: number;
  /** Most events written in one statement and transaction, across messages. */
  maxWriteEvents: number;
  /** How long a write that is not full waits for more messages (group commit). */
  writeLingerMs: number;
  ackWaitMs: number;
  /** How often the database is probed while paused by an outage. */
  probeIntervalMs: number;
  /** How often past weeks of rollups are compacted (compactWeeks). */
  compactIntervalMs: number;
  /** Test seam: runs after a dead letter's PubAck and before the original is settled. */
  afterDeadLetter?: () => void;
  /** Absent with METRICS_ENABLED=false. */
  metrics?: WriterMetrics;
  /** Events stored, for the pipeline report; counted whatever METRICS_ENABLED says. */
  counts: ConsumerCounts;
}

export type { ConsumerState, ConsumerStatus } from "./writer-loop.ts";

/** The PostgreSQL writer: pulls EVENTS, stores each message's events once, and settles each message. */
export function createConsumer(deps: ConsumerDeps) {
  const writerDeps = {
    log: deps.log,
    db: deps.db,
    js: deps.js,
    dlqSubject: deps.names.dlqSubject,
    envelopeSchema: createEnvelopeSchema(deps.limits),
    knownUsers: new KnownUsers(),
    history: kvHistoryStore(deps.historyBucket),
    retryDelayUnitMs: deps.retryDelayUnitMs,
    ...(deps.afterDeadLetter ? { afterDeadLetter: deps.afterDeadLetter } : {}),
    metrics: deps.metrics,
    counts: deps.counts,
  };
  const loop = new WriterLoop({
    log: deps.log,
    pull: async () => {
      const consumer = await whileJetStreamBusy("reading the writer's consumer", () =>
        deps.js.consumers.get(deps.names.eventsStream, deps.names.writerConsumer),
      );
      return consumer.consume({ max_messages: deps.pullBatch });
    },
    write: (batch) => writeBatch(writerDeps, batch),
    probe: async () => {
      await sql`SELECT 1`.execute(deps.db);
    },
    probeIntervalMs: deps.probeIntervalMs,
    concurrency: deps.concurrency,
    pullBatch: deps.pullBatch,
    maxWriteEvents: deps.maxWriteEvents,
    writeLingerMs: deps.writeLingerMs,
    ackWaitMs: deps.ackWaitMs,
  });
  let compaction: ReturnType<typeof scheduleCompaction> | undefined;

  return {
    async start(): Promise<void> {
      // Between leaders (a cluster electing one) the request times out: repeated, as stream provisioning is.
      await whileJetStreamBusy(
        "provisioning the writer's consumer",
        () => provisionWriterConsumer(deps.jsm, deps.names, deps),
        deps.log,
      );
      await loop.start();
      compaction = scheduleCompaction(deps.compactionDb, deps.log, deps.compactIntervalMs);
      deps.log.info({ consumer: deps.names.writerConsumer, concurrency: deps.concurrency }, "consuming");
    },
    status: () => loop.status(),
    /** Stops pulling, finishes the writes under way and returns the buffered messages. */
    async stop(): Promise<void> {
      await loop.stop();
      await compaction?.stop();
    },
  };
}
