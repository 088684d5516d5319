import { classifyFailure, type Database, type Failure, type KnownUsers, storedIds, storeEvents } from "@evpipe/db";
import {
  type ConsumerCounts,
  decodeEnvelope,
  type EnvelopeEvent,
  type EnvelopeSchema,
  type HistoryStore,
  type Logger,
  messageHeaders,
  noHistory,
  secondsSince,
} from "@evpipe/shared";
import type { Kysely } from "kysely";
import type { JsMsg } from "nats";
import { writeIsolating } from "./isolating-write.ts";
import type { WriterMetrics } from "./metrics.ts";
import { carryOut, type ExecutorDeps } from "./settle-executor.ts";
import { type Delivery, settle, type WriteOutcome } from "./settlement.ts";

export interface BatchWriterDeps extends ExecutorDeps {
  log: Logger;
  db: Kysely<Database>;
  envelopeSchema: EnvelopeSchema;
  knownUsers: KnownUsers;
  history: HistoryStore;
  retryDelayUnitMs: number;
  metrics?: WriterMetrics;
  counts: ConsumerCounts;
}

interface Read {
  msg: JsMsg;
  log: Logger;
  delivery: Delivery;
  /** The failure history could not be read (NATS trouble): what earlier deliveries did is unknown. */
  historyUnknown?: boolean;
}

function logFor(deps: BatchWriterDeps, msg: JsMsg): Logger {
  return deps.log.child({
    requestId: msg.headers?.get(messageHeaders.requestId) || undefined,
    streamSeq: msg.info.streamSequence,
    deliveryCount: msg.info.deliveryCount,
  });
}

/** Decodes a message and, on a redelivery only, loads what earlier deliveries left in its history. */
async function read(deps: BatchWriterDeps, msg: JsMsg): Promise<Read> {
  const log = logFor(deps, msg);
  let history = noHistory;
  let historyUnknown = false;
  if (msg.info.deliveryCount > 1) {
    history = await deps.history.read(msg.info.streamSequence).catch((err: unknown) => {
      log.warn({ err }, "could not read the failure history; the message goes back");
      historyUnknown = true;
      return noHistory;
    });
  }
  try {
    const events = decodeEnvelope(deps.envelopeSchema, msg.data);
    return { msg, log, delivery: { kind: "readable", events, history }, historyUnknown };
  } catch (err) {
    const failure: Failure = { kind: "permanent", code: "ENVELOPE_INVALID", message: (err as Error).message };
    return { msg, log, delivery: { kind: "unreadable", failure, history }, historyUnknown };
  }
}

/** Stores the events of every readable delivery with as few statements as the data allows. */
async function write(deps: BatchWriterDeps, reads: readonly Read[]): Promise<WriteOutcome> {
  // Without its history a delivery could dead-letter an event twice or restart its attempts: wait instead.
  if (reads.some((r) => r.historyUnknown)) {
    return { kind: "halted", failure: { kind: "transient", code: "HISTORY_UNAVAILABLE", message: "history unread" } };
  }
  const pending: EnvelopeEvent[] = [];
  const redelivered: string[] = [];
  for (const { msg, delivery } of reads) {
    if (delivery.kind !== "readable") continue;
    const deadLettered = new Set(delivery.history.deadLettered);
    for (const event of delivery.events) {
      if (deadLettered.has(event.id)) continue;
      pending.push(event);
      if (msg.info.deliveryCount > 1) redelivered.push(event.id);
    }
  }
  let already: Set<string>;
  try {
    // On redelivery, leave out what an earlier delivery already stored.
    already = await storedIds(deps.db, redelivered);
  } catch (err) {
    return { kind: "halted", failure: classifyFailure(err) };
  }
  let statements = 0;
  const store = async (events: readonly EnvelopeEvent[]) => {
    // A split write runs one statement after another: keep the messages from being redelivered meanwhile.
    if (statements++ > 0) for (const { msg } of reads) msg.working();
    const started = performance.now();
    try {
      const inserted = await storeEvents(deps.db, events, deps.knownUsers);
      deps.metrics?.eventsStored.inc(inserted.length);
      deps.counts.stored += inserted.length;
    } finally {
      deps.metrics?.writeDuration.observe(secondsSince(started));
      deps.metrics?.writeEvents.observe(events.length);
    }
  };
  return writeIsolating(
    store,
    pending.filter((event) => !already.has(event.id)),
  );
}

export interface WrittenBatch {
  outcome: WriteOutcome;
  /** Carries out each message's settlement; after a halted write, only once pulling has stopped. */
  settle(): Promise<void>;
}

/**
 * Writes several messages' events with one statement in one transaction; each message is then settled on its
 * own. Settling is a second step so that messages handed back after an outage are not redelivered into a
 * pull that is about to close.
 */
export async function writeBatch(deps: BatchWriterDeps, batch: readonly JsMsg[]): Promise<WrittenBatch> {
  const reads = await Promise.all(batch.map((msg) => read(deps, msg)));
  const outcome = await write(deps, reads);
  const context = { now: new Date(), retryDelayUnitMs: deps.retryDelayUnitMs };
  const settleAll = async () => {
    // Started together: the acks of a whole write leave in one socket write.
    await Promise.all(
      reads.map(async ({ msg, log, delivery }) => {
        const settlement = settle(delivery, outcome, context);
        await carryOut(deps, msg, settlement, log);
        if (settlement.kind === "ack" && delivery.kind === "readable") {
          const attempt = delivery.history.failures + 1;
          log.info({ outcome: "stored", eventCount: delivery.events.length, attempt }, "message stored");
        }
      }),
    );
  };
  return { outcome, settle: settleAll };
}
