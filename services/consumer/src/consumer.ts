import { type Database, insertEvents } from "@evpipe/db";
import {
  createEnvelopeSchema,
  type EventLimits,
  isNotFound,
  type Logger,
  messageHeaders,
  type NatsNames,
} from "@evpipe/shared";
import type { Kysely } from "kysely";
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg, nanos } from "nats";
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
    max_ack_pending: Math.max(1000, deps.concurrency * deps.pullBatch * 4),
  };
  const existing = await deps.jsm.consumers.info(deps.names.eventsStream, config.durable_name).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (existing) await deps.jsm.consumers.update(deps.names.eventsStream, config.durable_name, config);
  else await deps.jsm.consumers.add(deps.names.eventsStream, config);
}

export function createConsumer(deps: ConsumerDeps) {
  const envelopeSchema = createEnvelopeSchema(deps.limits);
  let stopping = false;
  let messages: Awaited<ReturnType<Awaited<ReturnType<JetStreamClient["consumers"]["get"]>>["consume"]>> | undefined;
  let loop: Promise<void> | undefined;

  async function handle(msg: JsMsg): Promise<void> {
    const started = performance.now();
    const log = deps.log.child({
      requestId: msg.headers?.get(messageHeaders.requestId) || undefined,
      streamSeq: msg.info.streamSequence,
      deliveryCount: msg.info.deliveryCount,
    });
    try {
      const envelope = v.parse(envelopeSchema, msg.json());
      const inserted = await insertEvents(deps.db, envelope.events);
      msg.ack();
      log.info(
        {
          eventCount: envelope.events.length,
          inserted: inserted.length,
          durationMs: Math.round(performance.now() - started),
        },
        "message stored",
      );
    } catch (err) {
      const delayMs = retryDelayMs(msg.info.deliveryCount, deps.retryDelayUnitMs);
      msg.nak(delayMs);
      log.warn({ err, delayMs }, "message failed, retrying later");
    }
  }

  async function run(): Promise<void> {
    if (!messages) return;
    const inFlight = new Set<Promise<void>>();
    for await (const msg of messages) {
      // Messages the client had buffered when shutdown began go back at once rather than after ack_wait.
      if (stopping) {
        msg.nak();
        continue;
      }
      const task = handle(msg).finally(() => inFlight.delete(task));
      inFlight.add(task);
      if (inFlight.size >= deps.concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  }

  return {
    async start(): Promise<void> {
      await provisionWriterConsumer(deps);
      const consumer = await deps.js.consumers.get(deps.names.eventsStream, deps.names.writerConsumer);
      messages = await consumer.consume({ max_messages: deps.pullBatch });
      loop = run();
      deps.log.info({ consumer: deps.names.writerConsumer, concurrency: deps.concurrency }, "consuming");
    },
    /** Stops pulling, finishes (acks or naks) every message already received. */
    async stop(): Promise<void> {
      stopping = true;
      await messages?.close();
      await loop;
    },
  };
}

export type EventConsumer = ReturnType<typeof createConsumer>;
