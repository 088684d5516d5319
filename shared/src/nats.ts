import { DiscardPolicy, type JetStreamManager, nanos, RetentionPolicy, StorageType, type StreamConfig } from "nats";
import * as v from "valibot";
import { integerVar } from "./config.ts";
import type { Logger } from "./logger.ts";
import type { NatsNames } from "./names.ts";
import { wholeNumberText } from "./parse.ts";
import { type ProvisionOptions, updateStream, whileJetStreamBusy } from "./replication.ts";

export interface StreamSettings {
  eventsMaxAgeMs: number;
  eventsMaxBytes: number;
  dlqMaxAgeMs: number;
  duplicateWindowMs: number;
  /** The destinations' dead letters at most: a long vendor outage must not fill the disk EVENTS lives on. */
  destinationsDlqMaxBytes: number;
  /** Copies of every stream and bucket: 1 on one server, 3 (or 5) on a cluster. */
  replicas: number;
  /** NATS_REPLICAS was given: a count below an existing stream's scales it down (see ProvisionOptions). */
  scaleDown: boolean;
}

export const defaultStreamSettings: StreamSettings = {
  eventsMaxAgeMs: 7 * 24 * 3600 * 1000,
  eventsMaxBytes: 10 * 1024 ** 3,
  dlqMaxAgeMs: 30 * 24 * 3600 * 1000,
  duplicateWindowMs: 2 * 60 * 1000,
  destinationsDlqMaxBytes: 1024 ** 3,
  replicas: 1,
  scaleDown: false,
};

const hour = 3600 * 1000;

export const streamSettingsEnv = {
  EVENTS_RETENTION_HOURS: integerVar(defaultStreamSettings.eventsMaxAgeMs / hour, 1, 24 * 365),
  EVENTS_MAX_BYTES: integerVar(defaultStreamSettings.eventsMaxBytes, 1024 * 1024, 2 ** 50),
  DLQ_RETENTION_HOURS: integerVar(defaultStreamSettings.dlqMaxAgeMs / hour, 1, 24 * 3650),
  // PRODUCT.md §4: at least two minutes, so a producer's retry after a 503 is deduplicated by JetStream.
  DUPLICATE_WINDOW_MS: integerVar(defaultStreamSettings.duplicateWindowMs, 120_000, 24 * hour),
  DESTINATIONS_DLQ_MAX_BYTES: integerVar(defaultStreamSettings.destinationsDlqMaxBytes, 1024 * 1024, 2 ** 50),
  // JetStream places at most 5 replicas; a count above the cluster's size is refused at start.
  NATS_REPLICAS: v.optional(wholeNumberText(1, 5)),
};

export function streamSettingsFrom(env: {
  EVENTS_RETENTION_HOURS: number;
  EVENTS_MAX_BYTES: number;
  DLQ_RETENTION_HOURS: number;
  DUPLICATE_WINDOW_MS: number;
  DESTINATIONS_DLQ_MAX_BYTES: number;
  NATS_REPLICAS?: number | undefined;
}): StreamSettings {
  return {
    eventsMaxAgeMs: env.EVENTS_RETENTION_HOURS * hour,
    eventsMaxBytes: env.EVENTS_MAX_BYTES,
    dlqMaxAgeMs: env.DLQ_RETENTION_HOURS * hour,
    duplicateWindowMs: env.DUPLICATE_WINDOW_MS,
    destinationsDlqMaxBytes: env.DESTINATIONS_DLQ_MAX_BYTES,
    replicas: env.NATS_REPLICAS ?? defaultStreamSettings.replicas,
    scaleDown: env.NATS_REPLICAS !== undefined,
  };
}

export function streamConfigs(
  names: NatsNames,
  settings: StreamSettings,
): Array<Partial<StreamConfig> & { name: string }> {
  return [
    {
      name: names.eventsStream,
      subjects: [names.eventsSubject],
      storage: StorageType.File,
      num_replicas: settings.replicas,
      retention: RetentionPolicy.Limits,
      // discard "new": a full stream refuses the publish (the gateway answers 503) instead of dropping old events.
      discard: DiscardPolicy.New,
      max_age: nanos(settings.eventsMaxAgeMs),
      max_bytes: settings.eventsMaxBytes,
      duplicate_window: nanos(settings.duplicateWindowMs),
    },
    {
      name: names.dlqStream,
      subjects: [names.dlqSubject],
      storage: StorageType.File,
      num_replicas: settings.replicas,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.New,
      max_age: nanos(settings.dlqMaxAgeMs),
      duplicate_window: nanos(settings.duplicateWindowMs),
    },
    {
      name: names.dlqAuditStream,
      subjects: [names.dlqAuditSubject],
      storage: StorageType.File,
      num_replicas: settings.replicas,
      retention: RetentionPolicy.Limits,
      // An audit trail of replays and purges: small, kept a year.
      max_age: nanos(365 * 24 * 3600 * 1000),
    },
  ];
}

/**
 * Creates the streams, or brings an existing stream's settings up to date, its replica count included (a
 * refused change is a ProvisionError). Idempotent. Scaling is logged on `log`.
 */
export async function provisionStreams(
  jsm: JetStreamManager,
  names: NatsNames,
  settings: StreamSettings,
  log?: Logger,
): Promise<void> {
  await provisionStreamConfigs(jsm, streamConfigs(names, settings), { log, scaleDown: settings.scaleDown });
}

/** Creates each stream, or brings an existing one's settings (replicas too) up to date. Idempotent. */
export async function provisionStreamConfigs(
  jsm: JetStreamManager,
  configs: ReadonlyArray<Partial<StreamConfig> & { name: string }>,
  options: ProvisionOptions = {},
): Promise<void> {
  const { log } = options;
  for (const config of configs) {
    const existing = await whileJetStreamBusy(
      `reading stream ${config.name}`,
      () =>
        jsm.streams.info(config.name).catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        }),
      log,
    );
    if (!existing) {
      await whileJetStreamBusy(`creating stream ${config.name}`, () => jsm.streams.add(config), log);
    } else {
      await updateStream(jsm, existing.config, config, options);
    }
  }
}

/**
 * Creates the streams that are missing and leaves the others as they are: for a service that reads streams
 * another service owns (the forwarder reads EVENTS), so its own settings never change the owner's (a smaller
 * EVENTS cap from a forwarder's environment would drop events not yet stored).
 */
export async function createMissingStreams(
  jsm: JetStreamManager,
  configs: ReadonlyArray<Partial<StreamConfig> & { name: string }>,
): Promise<void> {
  for (const config of configs) {
    const exists = await whileJetStreamBusy(`reading stream ${config.name}`, () =>
      jsm.streams.info(config.name).then(
        () => true,
        (err: unknown) => {
          if (isNotFound(err)) return false;
          throw err;
        },
      ),
    );
    if (!exists) await whileJetStreamBusy(`creating stream ${config.name}`, () => jsm.streams.add(config));
  }
}

export async function streamsExist(jsm: JetStreamManager, names: NatsNames): Promise<boolean> {
  try {
    await Promise.all([jsm.streams.info(names.eventsStream), jsm.streams.info(names.dlqStream)]);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

export function isNotFound(err: unknown): boolean {
  const code = (err as { api_error?: { err_code?: number } }).api_error?.err_code;
  // 10059 stream not found, 10014 consumer not found, 10037 no message found
  return (
    code === 10059 ||
    code === 10014 ||
    code === 10037 ||
    (err instanceof Error && /not found|no message found/i.test(err.message))
  );
}
