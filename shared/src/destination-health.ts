import type { JetStreamManager, KV } from "nats";
import {
  type DestinationNames,
  type DestinationRecord,
  type DestinationStatus,
  listDestinations,
  parseDestinationStatus,
} from "./destinations.ts";
import { isNotFound } from "./nats.ts";

/** Where a destination's health is read from: its consumers, the destinations' DLQ stream and both buckets. */
export interface DestinationHealthSources {
  jsm: JetStreamManager;
  names: DestinationNames;
  /** EVENTS, which every destination's consumer reads. */
  eventsStream: string;
  /** The destinations' records, keyed by name. */
  destinations: KV;
  /** What the forwarder reports per destination, keyed by name. */
  status: KV;
}

/** One destination as `pnpm ops destinations list` and GET /v1/pipeline show it, before either formats it. */
export interface DestinationHealth {
  record: DestinationRecord;
  /** EVENTS still to deliver plus replays waiting; null until the forwarder has made the destination's consumer. */
  lag: number | null;
  /** The forwarder's last report; undefined before its first, or when unreadable. */
  status: DestinationStatus | undefined;
  /** Dead letters waiting in its DLQ subject. */
  deadLetters: number;
}

const unlessNotFound = (err: unknown) => {
  if (isNotFound(err)) return undefined;
  throw err;
};

/** Messages a consumer has yet to deliver or see acknowledged; undefined when it does not exist (yet). */
async function backlog(jsm: JetStreamManager, stream: string, consumer: string): Promise<number | undefined> {
  const info = await jsm.consumers.info(stream, consumer).catch(unlessNotFound);
  return info && info.num_pending + info.num_ack_pending;
}

async function lag(sources: DestinationHealthSources, name: string): Promise<number | null> {
  const consumer = sources.names.consumer(name);
  const events = await backlog(sources.jsm, sources.eventsStream, consumer);
  if (events === undefined) return null;
  return events + ((await backlog(sources.jsm, sources.names.replayStream, consumer)) ?? 0);
}

/** Dead letters waiting per DLQ subject, from one stream info. */
async function deadLettersBySubject(sources: DestinationHealthSources): Promise<Record<string, number>> {
  const { jsm, names } = sources;
  const info = await jsm.streams.info(names.dlqStream, { subjects_filter: names.dlqSubjects }).catch(unlessNotFound);
  return info?.state.subjects ?? {};
}

async function status(kv: KV, name: string): Promise<DestinationStatus | undefined> {
  const entry = await kv.get(name);
  if (entry?.operation !== "PUT") return undefined;
  try {
    return parseDestinationStatus(entry.value);
  } catch {
    // Written by a forwarder of another version: shown as no report rather than failing the whole list.
    return undefined;
  }
}

/** Every destination, by name, with its lag, the forwarder's report and its dead letters waiting. */
export async function readDestinationsHealth(sources: DestinationHealthSources): Promise<DestinationHealth[]> {
  const [records, dead] = await Promise.all([listDestinations(sources.destinations), deadLettersBySubject(sources)]);
  return Promise.all(
    records.map(async (record) => ({
      record,
      lag: await lag(sources, record.name),
      status: await status(sources.status, record.name),
      deadLetters: dead[sources.names.dlqSubject(record.name)] ?? 0,
    })),
  );
}
