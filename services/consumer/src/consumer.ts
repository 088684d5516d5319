import { type Database, insertEvents } from "@evpipe/db";
import {
  createEnvelopeSchema,
  type EnvelopeEvent,
  type EventLimits,
  isNotFound,
  type Logger,
  messageHeaders,
  type NatsNames,
} from "@evpipe/shared";
import type { Kysely } from "kysely";
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

export interface ConsumerDeps {
  log: Logger;
  js: JetStreamClient;
  jsm: JetStreamManager;
  db: Kysely<Database>;
  names: NatsNames;
  limits: EventLimits;
  retryDelayUnitMs: number;
  /** Messages processed at once; each holds one pool connection. */
  concurrency: number;
  /** Messages the client keeps buffered ahead of processing. */
  pullBatch: number;
  /** Most events written in one statement and transaction, across messages. */
  maxWriteEvents: number;
  ackWaitMs: number;
}

/** 3^n units after the n-th failed delivery (3, 9, 27, 81, 243 s by default). */
export function retryDelayMs(deliveryCount: number, unitMs: number): number {
  return 3 ** Math.min(Math.max(deliveryCount, 1), 5) * unitMs;
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

interface Delivery {
  msg: JsMsg;
  log: Logger;
  events: EnvelopeEvent[];
}

export function createConsumer(deps: ConsumerDeps) {
  const envelopeSchema = createEnvelopeSchema(deps.limits);
  const buffer: JsMsg[] = [];
  const writing = new Set<Promise<void>>();
  let stopping = false;
  let messages: ConsumerMessages | undefined;

  function open(msg: JsMsg): Delivery {
    const log = deps.log.child({
      requestId: msg.headers?.get(messageHeaders.requestId) || undefined,
      streamSeq: msg.info.streamSequence,
      deliveryCount: msg.info.deliveryCount,
    });
    return { msg, log, events: v.parse(envelopeSchema, msg.json()).events };
  }

  /** Stores the events of several messages with one statement in one transaction, then acks each message. */
  async function write(batch: JsMsg[]): Promise<void> {
    const started = performance.now();
    const deliveries: Delivery[] = [];
    for (const msg of batch) {
      try {
        deliveries.push(open(msg));
      } catch (err) {
        retryLater(msg, err);
      }
    }
    if (deliveries.length === 0) return;
    try {
      const inserted = new Set(
        await insertEvents(
          deps.db,
          deliveries.flatMap((d) => d.events),
        ),
      );
      const durationMs = Math.round(performance.now() - started);
      for (const { msg, log, events } of deliveries) {
        msg.ack();
        const stored = events.filter((event) => inserted.has(event.id)).length;
        log.info(
          { eventCount: events.length, inserted: stored, batchMessages: deliveries.length, durationMs },
          "message stored",
        );
      }
    } catch (err) {
      for (const { msg } of deliveries) retryLater(msg, err);
    }
  }

  function retryLater(msg: JsMsg, err: unknown): void {
    const delayMs = retryDelayMs(msg.info.deliveryCount, deps.retryDelayUnitMs);
    msg.nak(delayMs);
    deps.log.warn(
      { err, streamSeq: msg.info.streamSequence, deliveryCount: msg.info.deliveryCount, delayMs },
      "message failed, retrying later",
    );
  }

  /** Takes messages off the buffer, up to maxWriteEvents events per write, while fewer than `concurrency` writes run. */
  function dispatch(): void {
    while (!stopping && buffer.length > 0 && writing.size < deps.concurrency) {
      const batch: JsMsg[] = [];
      let events = 0;
      while (buffer.length > 0) {
        const next = buffer[0] as JsMsg;
        // Envelopes hold at most maxBatchEvents events; estimate by bytes to avoid parsing twice.
        const estimate = Math.max(1, Math.round(next.data.length / 200));
        if (batch.length > 0 && events + estimate > deps.maxWriteEvents) break;
        batch.push(buffer.shift() as JsMsg);
        events += estimate;
      }
      const task = write(batch).finally(() => {
        writing.delete(task);
        dispatch();
      });
      writing.add(task);
    }
  }

  return {
    async start(): Promise<void> {
      await provisionWriterConsumer(deps);
      const consumer = await deps.js.consumers.get(deps.names.eventsStream, deps.names.writerConsumer);
      messages = await consumer.consume({
        max_messages: deps.pullBatch,
        callback: (msg) => {
          // Messages that arrive once shutdown has begun go back at once rather than after ack_wait.
          if (stopping) {
            msg.nak();
            return;
          }
          buffer.push(msg);
          // Messages delivered in the same turn are written together.
          if (buffer.length === 1) setImmediate(dispatch);
        },
      });
      deps.log.info({ consumer: deps.names.writerConsumer, concurrency: deps.concurrency }, "consuming");
    },
    /** Stops pulling, finishes the writes under way and returns the buffered messages. */
    async stop(): Promise<void> {
      stopping = true;
      await messages?.close();
      for (const msg of buffer.splice(0)) msg.nak();
      while (writing.size > 0) await Promise.all(writing);
    },
  };
}

export type EventConsumer = ReturnType<typeof createConsumer>;
