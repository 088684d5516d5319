import { type DestinationNames, type DestinationRecord, isNotFound, type NatsNames } from "@evpipe/shared";
import { AckPolicy, type ConsumerConfig, DeliverPolicy, type JetStreamManager, nanos } from "nats";

/** Replayed messages one destination holds unacknowledged at most, beside FORWARDER_MAX_IN_FLIGHT from EVENTS. */
export const maxReplaysInFlight = 64;

export interface ConsumerSettings {
  ackWaitMs: number;
  /** The destination's bound on unacknowledged messages, retries waiting out their delay included. */
  maxInFlight: number;
}

/** Where one destination reads from: EVENTS, and the replays of its own dead letters. */
export interface DestinationSource {
  stream: string;
  consumer: string;
}

export function destinationSources(
  names: NatsNames,
  destinations: DestinationNames,
  name: string,
): [DestinationSource, DestinationSource] {
  return [
    { stream: names.eventsStream, consumer: destinations.consumer(name) },
    { stream: destinations.replayStream, consumer: destinations.consumer(name) },
  ];
}

/**
 * The destination's durable consumers: on EVENTS from the record's start time (the moment it was added, or the
 * operator's --from), so events accepted before the forwarder noticed the new destination are not missed; on
 * the replay stream, everything waiting for it. An existing consumer keeps its position: only its limits are
 * brought up to date. Explicit acks and no server-side backoff, as the writer's.
 */
export async function provisionDestinationConsumers(
  jsm: JetStreamManager,
  names: NatsNames,
  destinations: DestinationNames,
  record: DestinationRecord,
  settings: ConsumerSettings,
): Promise<void> {
  const [events, replays] = destinationSources(names, destinations, record.name);
  const limits = {
    ack_wait: nanos(settings.ackWaitMs),
    max_ack_pending: settings.maxInFlight,
    // Dead letters are ours to send after the last retry; the server must never drop a message.
    max_deliver: -1,
  };
  const start: Partial<ConsumerConfig> = record.start_at
    ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: record.start_at }
    : { deliver_policy: DeliverPolicy.New };
  await ensureConsumer(jsm, events.stream, {
    ...limits,
    ...start,
    durable_name: events.consumer,
    ack_policy: AckPolicy.Explicit,
    filter_subject: names.eventsSubject,
  });
  await ensureConsumer(jsm, replays.stream, {
    ...limits,
    // Replays are an operator's one-off: a small bound of their own beside EVENTS' max in flight.
    max_ack_pending: Math.min(settings.maxInFlight, maxReplaysInFlight),
    durable_name: replays.consumer,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: destinations.replaySubject(record.name),
  });
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
): Promise<void> {
  const existing = await jsm.consumers.info(stream, config.durable_name).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (!existing) {
    await jsm.consumers.add(stream, config);
    return;
  }
  const { ack_wait, max_ack_pending, max_deliver } = config;
  await jsm.consumers.update(stream, config.durable_name, { ack_wait, max_ack_pending, max_deliver });
}

/** A removed destination's consumers: its position is no longer anyone's. */
export async function deleteDestinationConsumers(
  jsm: JetStreamManager,
  sources: readonly DestinationSource[],
): Promise<void> {
  for (const source of sources) {
    await jsm.consumers.delete(source.stream, source.consumer).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}
