import { isNotFound, type NatsNames } from "@evpipe/shared";
import { AckPolicy, DeliverPolicy, type JetStreamManager, nanos } from "nats";

export interface WriterSettings {
  ackWaitMs: number;
  /** Writes under way at once. */
  concurrency: number;
  /** Messages the client keeps buffered ahead of processing. */
  pullBatch: number;
}

/** The durable pull consumer: explicit acks, no server-side backoff (it distorts nak delays on NATS 2.9). */
export async function provisionWriterConsumer(jsm: JetStreamManager, names: NatsNames, settings: WriterSettings) {
  const config = {
    durable_name: names.writerConsumer,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: names.eventsSubject,
    ack_wait: nanos(settings.ackWaitMs),
    // We dead-letter after the 6th failed delivery ourselves; the server must never drop a message.
    max_deliver: -1,
    // Bounds the messages held in memory: the server delivers no more than this many unacknowledged.
    max_ack_pending: settings.concurrency * settings.pullBatch * 2,
  };
  const existing = await jsm.consumers.info(names.eventsStream, config.durable_name).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (existing) await jsm.consumers.update(names.eventsStream, config.durable_name, config);
  else await jsm.consumers.add(names.eventsStream, config);
}
