import {
  DiscardPolicy,
  type JetStreamClient,
  type KV,
  nanos,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "nats";
import * as v from "valibot";
import { natsNames } from "./names.ts";
import type { StreamSettings } from "./nats.ts";
import { openBucket, type Replication } from "./replication.ts";

/** The tools a destination can forward to (PRODUCT.md §6, §7). */
export const destinationTypes = ["webhook", "segment", "posthog", "mixpanel"] as const;
export type DestinationType = (typeof destinationTypes)[number];

// A destination's name becomes part of a durable consumer's name and of a subject: no dots, wildcards or spaces.
const namePattern = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
const nameRule = "must be 1 to 40 lower-case letters, digits or dashes, starting and ending with a letter or digit";
const urlRule = "must be an http:// or https:// URL";

export const destinationName = v.pipe(v.string(nameRule), v.regex(namePattern, nameRule));

export const destinationUrl = v.pipe(
  v.string(urlRule),
  v.check((text) => {
    try {
      const url = new URL(text);
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
    } catch {
      return false;
    }
  }, urlRule),
  // fetch refuses such URLs, with the URL in its error (which ends up in logs and `list`): credentials go in
  // --secret, where they are sealed.
  v.check((text) => {
    const url = URL.parse(text);
    return url === null || (url.username === "" && url.password === "");
  }, "must not carry a user name or password (the credential goes in --secret, where it is sealed)"),
);

/**
 * A destination as the `destinations` bucket keeps it, keyed by name: the forwarder watches the bucket and
 * `pnpm ops destinations` writes it. `secret` is sealed (destination-secrets.ts), never the credential itself.
 */
export const destinationRecord = v.object({
  name: destinationName,
  type: v.picklist(destinationTypes, `must be one of ${destinationTypes.join(", ")}`),
  url: destinationUrl,
  secret: v.string(),
  /** Only these event names are forwarded; every event when absent. */
  events: v.optional(v.array(v.string())),
  /** Requests per second to the vendor at most; unlimited when absent. */
  rate: v.optional(v.pipe(v.number(), v.minValue(0.01))),
  paused: v.boolean(),
  created_at: v.string(),
  /** The time its consumer starts reading EVENTS from; new events only when absent. */
  start_at: v.optional(v.string()),
});
export type DestinationRecord = v.InferOutput<typeof destinationRecord>;

/** The JetStream names of destinations, under the same namespace as natsNames. */
export function destinationNames(namespace?: string) {
  const stream = namespace ? `${namespace}_` : "";
  const subject = namespace ? `${namespace}.` : "";
  return {
    /** The destinations' configuration, keyed by name: `ops destinations` writes it, the forwarder watches it. */
    bucket: `${stream}destinations`,
    /** What the forwarder reports per destination (delivered, failed, last success, last error), for `list`. */
    statusBucket: `${stream}destinations-status`,
    /** Failed attempts per message and destination, so a message handed back by a pause or stop is not counted. */
    attemptsBucket: `${stream}destinations-attempts`,
    /** Every destination's dead letters, in a stream of their own (PRODUCT.md §4). */
    dlqStream: `${stream}DESTINATIONS_DLQ`,
    dlqSubjects: `${subject}events.dlq.destination.>`,
    /**
     * Replayed dead letters wait here for their one destination (a work queue: gone once delivered), so a
     * replay reaches that destination again and nobody else: not PostgreSQL, not the other destinations.
     */
    replayStream: `${stream}DESTINATIONS_REPLAY`,
    replaySubjects: `${subject}events.replay.destination.>`,
    /** The durable consumer of EVENTS, and of the replay stream, that one destination reads. */
    consumer: (name: string) => `${stream}destination-${name}`,
    dlqSubject: (name: string) => `${subject}events.dlq.destination.${name}`,
    replaySubject: (name: string) => `${subject}events.replay.destination.${name}`,
  };
}
export type DestinationNames = ReturnType<typeof destinationNames>;

/** Every stream and key-value bucket of one namespace: the writer's, the keys' and the destinations'. */
export function projectStreams(namespace?: string): { streams: string[]; buckets: string[] } {
  const names = natsNames(namespace);
  const destinations = destinationNames(namespace);
  return {
    streams: [
      names.eventsStream,
      names.dlqStream,
      names.dlqAuditStream,
      destinations.dlqStream,
      destinations.replayStream,
    ],
    buckets: [
      names.keysBucket,
      names.keyUsageBucket,
      names.writerHistoryBucket,
      names.pipelineReportsBucket,
      destinations.bucket,
      destinations.statusBucket,
      destinations.attemptsBucket,
    ],
  };
}

/**
 * What the forwarder last reported of one destination, in the status bucket keyed by name. Counts are events
 * since the destination was added; lag is not here: it is read from its consumer when asked.
 */
export const destinationStatus = v.object({
  delivered: v.number(),
  /** Events dead-lettered, for either reason. */
  failed: v.number(),
  /** Failed attempts that were retried (one per message and attempt). */
  retried: v.number(),
  last_success_at: v.optional(v.string()),
  last_error: v.optional(v.object({ at: v.string(), message: v.string() })),
  updated_at: v.string(),
});
export type DestinationStatus = v.InferOutput<typeof destinationStatus>;

export const noDestinationStatus = (now: Date): DestinationStatus => ({
  delivered: 0,
  failed: 0,
  retried: 0,
  updated_at: now.toISOString(),
});

const decodeJson = (data: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(data));

export const openDestinationsBucket = (
  js: JetStreamClient,
  names: DestinationNames,
  replication?: Replication,
): Promise<KV> => openBucket(js, names.bucket, { history: 5 }, replication);

export const openDestinationStatusBucket = (
  js: JetStreamClient,
  names: DestinationNames,
  replication?: Replication,
): Promise<KV> => openBucket(js, names.statusBucket, { history: 1 }, replication);

export function parseDestinationRecord(data: Uint8Array): DestinationRecord {
  return v.parse(destinationRecord, decodeJson(data));
}

export function parseDestinationStatus(data: Uint8Array): DestinationStatus {
  return v.parse(destinationStatus, decodeJson(data));
}

/** One destination with the bucket revision it was read at (for a compare-and-set update), or undefined. */
export async function readDestination(
  kv: KV,
  name: string,
): Promise<{ record: DestinationRecord; revision: number } | undefined> {
  const entry = await kv.get(name);
  if (entry?.operation !== "PUT") return undefined;
  return { record: parseDestinationRecord(entry.value), revision: entry.revision };
}

export async function listDestinations(kv: KV): Promise<DestinationRecord[]> {
  // Collect the names first: awaiting a get inside the keys() iteration cuts the listing short.
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  const records: DestinationRecord[] = [];
  for (const key of keys) {
    const found = await readDestination(kv, key);
    if (found) records.push(found.record);
  }
  return records.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The streams destinations need beside the project's own: their dead letters (kept like the writer's) and the
 * replays waiting for one destination (a work queue). Created by the forwarder and by `ops destinations`.
 */
export function destinationStreamConfigs(
  names: DestinationNames,
  settings: StreamSettings,
): Array<Partial<StreamConfig> & { name: string }> {
  return [
    {
      name: names.dlqStream,
      subjects: [names.dlqSubjects],
      storage: StorageType.File,
      num_replicas: settings.replicas,
      retention: RetentionPolicy.Limits,
      // Full, it refuses the next dead letter: the forwarder gives that message back (uncounted) and retries, so
      // the backlog waits in EVENTS instead of filling the disk.
      discard: DiscardPolicy.New,
      max_bytes: settings.destinationsDlqMaxBytes,
      max_age: nanos(settings.dlqMaxAgeMs),
      duplicate_window: nanos(settings.duplicateWindowMs),
    },
    {
      name: names.replayStream,
      subjects: [names.replaySubjects],
      storage: StorageType.File,
      num_replicas: settings.replicas,
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.New,
      max_age: nanos(settings.dlqMaxAgeMs),
      duplicate_window: nanos(settings.duplicateWindowMs),
    },
  ];
}
