import {
  classifyFailure,
  compactWeeks,
  type Database,
  type Failure,
  KnownUsers,
  maxAttempts,
  retryDelayMs,
  storedIds,
  storeEvents as storeWithRollups,
} from "@evpipe/db";
import {
  createEnvelopeSchema,
  type EnvelopeEvent,
  type EventLimits,
  isNotFound,
  type Logger,
  messageHeaders,
  type NatsNames,
} from "@evpipe/shared";
import { type Kysely, sql } from "kysely";
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  nanos,
} from "nats";
import * as v from "valibot";
import { type DeadLetter, publishDeadLetter } from "./dead-letter.ts";

export interface ConsumerDeps {
  log: Logger;
  js: JetStreamClient;
  jsm: JetStreamManager;
  db: Kysely<Database>;
  names: NatsNames;
  limits: EventLimits;
  retryDelayUnitMs: number;
  /** Writes under way at once; each holds one pool connection. */
  concurrency: number;
  /** Messages the client keeps buffered ahead of processing. */
  pullBatch: number;
  /** Most events written in one statement and transaction, across messages. */
  maxWriteEvents: number;
  ackWaitMs: number;
  /** How often the database is probed while paused by an outage. */
  probeIntervalMs: number;
  /** How often past weeks of rollups are compacted (compactWeeks). */
  compactIntervalMs: number;
  /** Test seam: runs after a dead letter's PubAck and before the original is settled. */
  afterDeadLetter?: () => void;
}

/** The durable pull consumer: explicit acks, no server-side backoff (it distorts nak delays on NATS 2.9). */
export async function provisionWriterConsumer(
  deps: Pick<ConsumerDeps, "jsm" | "names" | "ackWaitMs" | "concurrency" | "pullBatch">,
) {
  const config = {
    durable_name: deps.names.writerConsumer,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: deps.names.eventsSubject,
    ack_wait: nanos(deps.ackWaitMs),
    // We dead-letter after the 6th failed delivery ourselves; the server must never drop a message.
    max_deliver: -1,
    // Bounds the messages held in memory: the server delivers no more than this many unacknowledged.
    max_ack_pending: deps.concurrency * deps.pullBatch * 2,
  };
  const existing = await deps.jsm.consumers.info(deps.names.eventsStream, config.durable_name).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (existing) await deps.jsm.consumers.update(deps.names.eventsStream, config.durable_name, config);
  else await deps.jsm.consumers.add(deps.names.eventsStream, config);
}

/** Raised out of a write when the failure is not the data's: the whole write goes back to the stream. */
class WriteHalted extends Error {
  readonly failure: Failure;

  constructor(failure: Failure, cause: unknown) {
    super(failure.message, { cause });
    this.failure = failure;
  }
}

interface Delivery {
  msg: JsMsg;
  log: Logger;
  /** Deliveries that were this message's own failures (outage and bug returns don't count). */
  attempt: number;
  events: EnvelopeEvent[];
}

export type ConsumerState = "starting" | "consuming" | "paused" | "stopped" | "stopping";

export interface ConsumerStatus {
  state: ConsumerState;
  ready: boolean;
  reason?: { kind: string; code: string; message: string };
}

export function createConsumer(deps: ConsumerDeps) {
  const envelopeSchema = createEnvelopeSchema(deps.limits);
  const buffer: JsMsg[] = [];
  const writing = new Set<Promise<void>>();
  // Per stream sequence: deliveries returned for an outage or a bug, and when the message first failed.
  const returned = new Map<number, number>();
  const firstFailure = new Map<number, Date>();
  const knownUsers = new KnownUsers();
  let state: ConsumerState = "starting";
  let reason: ConsumerStatus["reason"];
  let messages: ConsumerMessages | undefined;

  const settle = (seq: number) => {
    returned.delete(seq);
    firstFailure.delete(seq);
  };

  /** Sends a message back without counting the delivery against it. */
  function giveBack(msg: JsMsg): void {
    const seq = msg.info.streamSequence;
    returned.set(seq, (returned.get(seq) ?? 0) + 1);
    msg.nak();
  }

  function attemptOf(msg: JsMsg): number {
    return Math.max(1, msg.info.deliveryCount - (returned.get(msg.info.streamSequence) ?? 0));
  }

  function logFor(msg: JsMsg): Logger {
    return deps.log.child({
      requestId: msg.headers?.get(messageHeaders.requestId) || undefined,
      streamSeq: msg.info.streamSequence,
      deliveryCount: msg.info.deliveryCount,
    });
  }

  async function storeEvents(events: EnvelopeEvent[]): Promise<void> {
    if (events.length > 0) await storeWithRollups(deps.db, events, knownUsers);
  }

  /**
   * Writes the events, splitting a failed write in halves down to single events, so healthy events are
   * stored and only the failing ones are reported, each with its failure.
   */
  async function storeIsolating(events: EnvelopeEvent[], failures: Map<string, Failure>): Promise<void> {
    try {
      await storeEvents(events);
    } catch (err) {
      const failure = classifyFailure(err);
      if (failure.kind === "outage" || failure.kind === "bug") throw new WriteHalted(failure, err);
      if (events.length === 1) {
        failures.set((events[0] as EnvelopeEvent).id, failure);
        return;
      }
      const half = Math.ceil(events.length / 2);
      await storeIsolating(events.slice(0, half), failures);
      await storeIsolating(events.slice(half), failures);
    }
  }

  async function deadLetter(delivery: Delivery, letters: DeadLetter[], storedCount: number): Promise<void> {
    const { msg, log } = delivery;
    try {
      for (const letter of letters) await publishDeadLetter(deps.js, deps.names, msg, letter, 5000);
    } catch (err) {
      // Never lose it: the message comes back and is dead-lettered once the DLQ takes it.
      const delayMs = retryDelayMs(delivery.attempt, deps.retryDelayUnitMs);
      msg.nak(delayMs);
      log.error({ err, delayMs }, "dead-letter publish failed, message returned");
      return;
    }
    deps.afterDeadLetter?.();
    if (storedCount === 0) msg.term();
    else msg.ack();
    settle(msg.info.streamSequence);
    for (const letter of letters) {
      log.warn(
        {
          outcome: "dead_lettered",
          reason: letter.reason,
          errorCode: letter.failure.code,
          error: letter.failure.message,
          attempts: letter.attempts,
          eventCount: letter.events?.length,
          storedCount,
        },
        "message dead-lettered",
      );
    }
  }

  /** Decides each message's fate once its write is done: ack, retry later, or dead-letter. */
  async function settleDelivery(delivery: Delivery, failures: Map<string, Failure>): Promise<void> {
    const { msg, log, events, attempt } = delivery;
    const failed = events.filter((event) => failures.has(event.id));
    if (failed.length === 0) {
      msg.ack();
      settle(msg.info.streamSequence);
      log.info({ outcome: "stored", eventCount: events.length, attempt }, "message stored");
      return;
    }
    const now = new Date();
    const seq = msg.info.streamSequence;
    if (!firstFailure.has(seq))
      firstFailure.set(seq, attempt === 1 ? now : new Date(Number(msg.info.timestampNanos / 1_000_000)));
    const transient = failed.filter((event) => failures.get(event.id)?.kind === "transient");
    if (transient.length > 0 && attempt < maxAttempts) {
      const delayMs = retryDelayMs(attempt, deps.retryDelayUnitMs);
      msg.nak(delayMs);
      const failure = failures.get((transient[0] as EnvelopeEvent).id) as Failure;
      log.warn(
        {
          outcome: "retrying",
          attempt,
          delayMs,
          errorCode: failure.code,
          error: failure.message,
          failedCount: failed.length,
        },
        "message retrying",
      );
      return;
    }
    // Group the failing events by why they failed, one dead letter per group.
    const groups = new Map<string, DeadLetter>();
    for (const event of failed) {
      const failure = failures.get(event.id) as Failure;
      const letterReason = failure.kind === "permanent" ? "permanent_error" : "retries_exhausted";
      const key = `${letterReason}/${failure.code}`;
      const letter = groups.get(key) ?? {
        reason: letterReason,
        failure,
        events: [],
        attempts: attempt,
        firstFailureAt: firstFailure.get(seq) ?? now,
        lastFailureAt: now,
      };
      letter.events?.push(event);
      groups.set(key, letter);
    }
    await deadLetter(delivery, [...groups.values()], events.length - failed.length);
  }

  /** Stores the events of several messages with one statement in one transaction, then settles each message. */
  async function write(batch: JsMsg[]): Promise<void> {
    const deliveries: Delivery[] = [];
    for (const msg of batch) {
      const log = logFor(msg);
      const attempt = attemptOf(msg);
      try {
        deliveries.push({ msg, log, attempt, events: v.parse(envelopeSchema, msg.json()).events });
      } catch (err) {
        const failure = classifyFailure(err);
        const now = new Date();
        const letter: DeadLetter = {
          reason: "permanent_error",
          failure: { ...failure, kind: "permanent", code: "ENVELOPE_INVALID" },
          events: undefined,
          attempts: attempt,
          firstFailureAt: now,
          lastFailureAt: now,
        };
        await deadLetter({ msg, log, attempt, events: [] }, [letter], 0);
      }
    }
    if (deliveries.length === 0) return;
    const failures = new Map<string, Failure>();
    try {
      // On redelivery, leave out what an earlier delivery already stored.
      const redelivered = deliveries
        .filter((d) => d.msg.info.deliveryCount > 1)
        .flatMap((d) => d.events.map((e) => e.id));
      const already = await storedIds(deps.db, redelivered);
      const pending = deliveries.flatMap((d) => d.events).filter((event) => !already.has(event.id));
      await storeIsolating(pending, failures);
    } catch (err) {
      const halted = err instanceof WriteHalted ? err : new WriteHalted(classifyFailure(err), err);
      for (const { msg } of deliveries) giveBack(msg);
      halt(halted.failure, halted, deliveries.length);
      return;
    }
    // Started together: the acks of a whole write leave in one socket write (awaiting each one in turn let
    // nats.js flush after every ack).
    await Promise.all(deliveries.map((delivery) => settleDelivery(delivery, failures)));
  }

  /** Takes messages off the buffer, up to maxWriteEvents events per write, while fewer than `concurrency` writes run. */
  function dispatch(): void {
    while (state === "consuming" && buffer.length > 0 && writing.size < deps.concurrency) {
      const batch: JsMsg[] = [];
      let events = 0;
      while (buffer.length > 0) {
        const next = buffer[0] as JsMsg;
        // Estimated from the size (about 200 bytes an event) to avoid parsing twice.
        const estimate = Math.max(1, Math.round(next.data.length / 200));
        if (batch.length > 0 && events + estimate > deps.maxWriteEvents) break;
        batch.push(buffer.shift() as JsMsg);
        events += estimate;
      }
      const task = write(batch)
        .catch((err: unknown) => deps.log.error({ err }, "write failed unexpectedly"))
        .finally(() => {
          writing.delete(task);
          dispatch();
        });
      writing.add(task);
    }
  }

  async function pull(): Promise<void> {
    const consumer = await deps.js.consumers.get(deps.names.eventsStream, deps.names.writerConsumer);
    messages = await consumer.consume({
      max_messages: deps.pullBatch,
      callback: (msg) => {
        // Messages that arrive while not consuming go back at once rather than after ack_wait.
        if (state !== "consuming") {
          giveBack(msg);
          return;
        }
        buffer.push(msg);
        // Messages delivered in the same turn are written together.
        if (buffer.length === 1) setImmediate(dispatch);
      },
    });
  }

  async function stopPulling(): Promise<void> {
    const current = messages;
    messages = undefined;
    await current?.close();
    for (const msg of buffer.splice(0)) giveBack(msg);
  }

  function halt(failure: Failure, err: unknown, returnedCount: number): void {
    if (failure.kind === "outage") {
      if (state !== "consuming") return;
      state = "paused";
      reason = { kind: failure.kind, code: failure.code, message: failure.message };
      deps.log.warn(
        { outcome: "paused", errorCode: failure.code, error: failure.message, returnedCount },
        "database unavailable, paused",
      );
      void probeUntilBack();
      return;
    }
    if (state === "stopped" || state === "stopping") return;
    state = "stopped";
    reason = { kind: failure.kind, code: failure.code, message: failure.message };
    deps.log.fatal(
      { err, outcome: "stopped", errorCode: failure.code, returnedCount },
      "consumer stopped: this needs a fix in the code or the database, not a retry; messages are kept",
    );
    void stopPulling();
  }

  /** One loop per pause: it ends once pulling has resumed; a later outage starts a new one. */
  async function probeUntilBack(): Promise<void> {
    await stopPulling();
    const started = Date.now();
    while (state === "paused") {
      await new Promise((resolve) => setTimeout(resolve, deps.probeIntervalMs));
      if (state !== "paused") return;
      try {
        await sql`SELECT 1`.execute(deps.db);
      } catch (err) {
        deps.log.debug({ err }, "database still unavailable");
        continue;
      }
      // Consuming before pulling: a message delivered in between must not be given back.
      state = "consuming";
      try {
        await pull();
      } catch (err) {
        state = "paused";
        deps.log.error({ err }, "could not resume pulling; retrying");
        continue;
      }
      reason = undefined;
      deps.log.info({ outcome: "resumed", pausedMs: Date.now() - started }, "database back, resuming");
      return;
    }
  }

  let compaction: Promise<void> | undefined;
  let compactionTimer: NodeJS.Timeout | undefined;

  /** Compacts the weeks that have ended since the last run; one run at a time. */
  function compactPastWeeks(): void {
    compaction ??= compactWeeks(deps.db)
      .then((weeks) => {
        if (weeks.length > 0) deps.log.info({ weeks }, "past weeks compacted");
      })
      .catch((err: unknown) => deps.log.warn({ err }, "week compaction failed; retrying at the next interval"))
      .finally(() => {
        compaction = undefined;
      });
  }

  return {
    async start(): Promise<void> {
      await provisionWriterConsumer(deps);
      state = "consuming";
      await pull();
      compactPastWeeks();
      compactionTimer = setInterval(compactPastWeeks, deps.compactIntervalMs);
      deps.log.info({ consumer: deps.names.writerConsumer, concurrency: deps.concurrency }, "consuming");
    },
    status(): ConsumerStatus {
      return { state, ready: state === "consuming", ...(reason ? { reason } : {}) };
    },
    /** Stops pulling, finishes the writes under way and returns the buffered messages. */
    async stop(): Promise<void> {
      state = "stopping";
      clearInterval(compactionTimer);
      await stopPulling();
      while (writing.size > 0) await Promise.all(writing);
      await compaction;
    },
  };
}
