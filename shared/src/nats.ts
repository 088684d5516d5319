import {
  connect,
  DiscardPolicy,
  type JetStreamManager,
  type NatsConnection,
  nanos,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "nats";
import { integerVar, natsServers } from "./config.ts";
import type { Logger } from "./logger.ts";
import type { NatsNames } from "./names.ts";

const connectedState = new WeakMap<NatsConnection, boolean>();

/** Whether a connection made by connectNats is currently connected (not merely not closed). */
export function natsConnected(nc: NatsConnection): boolean {
  return !nc.isClosed() && connectedState.get(nc) === true;
}

/** The server list as it may be logged: no user, password or token. */
export function natsUrlForLog(servers: string): string {
  return servers
    .split(",")
    .map((server) => server.trim().replace(/^([a-z]+:\/\/)[^@/]*@/i, "$1"))
    .join(",");
}

export interface ConnectNatsOptions {
  servers: string;
  name: string;
  log: Logger;
  waitOnFirstConnect?: boolean;
  waitLogEveryMs?: number;
}

/**
 * Connects and keeps reconnecting forever: nats.js gives up after ~20 s by default, which would leave a
 * running service permanently cut off after a NATS restart. Until the first connection it waits too (unless
 * `waitOnFirstConnect` is false), logging "waiting for NATS at ..." at once and then every `waitLogEveryMs`,
 * so a service started before NATS comes up when NATS does instead of hanging silently. A server that refuses
 * us for good (credentials, TLS) stops the process with one line: waiting would not mend it.
 */
export async function connectNats(options: ConnectNatsOptions): Promise<NatsConnection> {
  const nc = await firstConnection(options);
  connectedState.set(nc, true);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") connectedState.set(nc, false);
      if (status.type === "reconnect") connectedState.set(nc, true);
      if (status.type === "pingTimer") continue;
      // On a reconnect, the data is the server it reached now.
      options.log.info({ natsStatus: status.type, natsData: String(status.data) }, "nats status");
    }
  })();
  return nc;
}

/**
 * One attempt at a time rather than nats.js's own waitOnFirstConnect, which retries in silence: each failed
 * attempt says why (refused, timed out, authorization), and the log line carries it.
 */
async function firstConnection(options: ConnectNatsOptions): Promise<NatsConnection> {
  const where = natsUrlForLog(options.servers);
  const started = Date.now();
  let loggedAt: number | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      const nc = await connect({
        servers: natsServers(options.servers),
        name: options.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        // A silently dropped connection attempt (a firewall) fails after this and is tried again.
        timeout: 5000,
        pingInterval: 10_000,
        // nats.js otherwise builds an Error per request to keep an async stack trace: measurable per request.
        noAsyncTraces: true,
      });
      // Which of the seeds it reached: with a cluster's list, the operator wants to know.
      const natsServer = nc.getServer();
      const waited = loggedAt === undefined ? {} : { waitedMs: Date.now() - started };
      options.log.info({ natsUrl: where, natsServer, ...waited }, `connected to NATS at ${where}`);
      return nc;
    } catch (err) {
      if (options.waitOnFirstConnect === false) throw err;
      const refusal = connectionRefusal(err);
      if (refusal) {
        // Waiting cannot mend wrong credentials or a TLS mismatch: say so once and stop.
        options.log.fatal({ natsUrl: where, reason: refusal }, `NATS at ${where} refused the connection: ${refusal}`);
        process.exit(1);
      }
      const now = Date.now();
      options.log.debug({ natsUrl: where, attempt, reason: String(err) }, "NATS connection attempt failed");
      if (loggedAt === undefined || now - loggedAt >= (options.waitLogEveryMs ?? 10_000)) {
        loggedAt = now;
        const reason = err instanceof Error ? err.message : String(err);
        options.log.info({ natsUrl: where, reason, waitedMs: now - started }, `waiting for NATS at ${where}`);
      }
      // 250 ms at first (a NATS starting beside us), backing off to 2 s.
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 250 * attempt)));
    }
  }
}

const refusalCodes: Record<string, string> = {
  AUTHORIZATION_VIOLATION: "authorization violation (check the user, password or token in NATS_URL)",
  AUTHENTICATION_EXPIRED: "authentication expired (renew the credentials in NATS_URL)",
  BAD_AUTHENTICATION: "bad authentication (check the credentials in NATS_URL)",
  TLS: "TLS is required or refused by the server (check the scheme and port in NATS_URL)",
};

/** Why the server refused us for good, or undefined when the failure may pass (not up yet, unreachable). */
function connectionRefusal(err: unknown): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? refusalCodes[code] : undefined;
}

/**
 * The JetStream manager, or one line and exit 1 when the server runs without JetStream (a nats-server started
 * without `-js`): the likeliest first mistake, not a stack trace.
 */
export async function jetStreamManagerOrExit(
  nc: NatsConnection,
  servers: string,
  log: Logger,
  options: { timeout?: number } = {},
): Promise<JetStreamManager> {
  try {
    return await nc.jetstreamManager(options);
  } catch (err) {
    if ((err as { code?: unknown }).code !== "503") throw err;
    const where = natsUrlForLog(servers);
    log.fatal({ natsUrl: where }, `JetStream is not enabled on NATS at ${where}: start nats-server with -js`);
    process.exit(1);
  }
}

export interface StreamSettings {
  eventsMaxAgeMs: number;
  eventsMaxBytes: number;
  dlqMaxAgeMs: number;
  duplicateWindowMs: number;
  /** The destinations' dead letters at most: a long vendor outage must not fill the disk EVENTS lives on. */
  destinationsDlqMaxBytes: number;
}

export const defaultStreamSettings: StreamSettings = {
  eventsMaxAgeMs: 7 * 24 * 3600 * 1000,
  eventsMaxBytes: 10 * 1024 ** 3,
  dlqMaxAgeMs: 30 * 24 * 3600 * 1000,
  duplicateWindowMs: 2 * 60 * 1000,
  destinationsDlqMaxBytes: 1024 ** 3,
};

const hour = 3600 * 1000;

export const streamSettingsEnv = {
  EVENTS_RETENTION_HOURS: integerVar(defaultStreamSettings.eventsMaxAgeMs / hour, 1, 24 * 365),
  EVENTS_MAX_BYTES: integerVar(defaultStreamSettings.eventsMaxBytes, 1024 * 1024, 2 ** 50),
  DLQ_RETENTION_HOURS: integerVar(defaultStreamSettings.dlqMaxAgeMs / hour, 1, 24 * 3650),
  // PRODUCT.md §4: at least two minutes, so a producer's retry after a 503 is deduplicated by JetStream.
  DUPLICATE_WINDOW_MS: integerVar(defaultStreamSettings.duplicateWindowMs, 120_000, 24 * hour),
  DESTINATIONS_DLQ_MAX_BYTES: integerVar(defaultStreamSettings.destinationsDlqMaxBytes, 1024 * 1024, 2 ** 50),
};

export function streamSettingsFrom(env: {
  EVENTS_RETENTION_HOURS: number;
  EVENTS_MAX_BYTES: number;
  DLQ_RETENTION_HOURS: number;
  DUPLICATE_WINDOW_MS: number;
  DESTINATIONS_DLQ_MAX_BYTES: number;
}): StreamSettings {
  return {
    eventsMaxAgeMs: env.EVENTS_RETENTION_HOURS * hour,
    eventsMaxBytes: env.EVENTS_MAX_BYTES,
    dlqMaxAgeMs: env.DLQ_RETENTION_HOURS * hour,
    duplicateWindowMs: env.DUPLICATE_WINDOW_MS,
    destinationsDlqMaxBytes: env.DESTINATIONS_DLQ_MAX_BYTES,
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
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.New,
      max_age: nanos(settings.dlqMaxAgeMs),
      duplicate_window: nanos(settings.duplicateWindowMs),
    },
    {
      name: names.dlqAuditStream,
      subjects: [names.dlqAuditSubject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      // An audit trail of replays and purges: small, kept a year.
      max_age: nanos(365 * 24 * 3600 * 1000),
    },
  ];
}

/** Creates the streams, or brings an existing stream's settings up to date. Idempotent. */
export async function provisionStreams(
  jsm: JetStreamManager,
  names: NatsNames,
  settings: StreamSettings,
): Promise<void> {
  await provisionStreamConfigs(jsm, streamConfigs(names, settings));
}

/** Creates each stream, or brings an existing one's settings up to date. Idempotent. */
export async function provisionStreamConfigs(
  jsm: JetStreamManager,
  configs: ReadonlyArray<Partial<StreamConfig> & { name: string }>,
): Promise<void> {
  for (const config of configs) {
    const existing = await jsm.streams.info(config.name).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (!existing) {
      await jsm.streams.add(config);
    } else {
      await jsm.streams.update(config.name, { ...existing.config, ...config });
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
    const exists = await jsm.streams.info(config.name).then(
      () => true,
      (err: unknown) => {
        if (isNotFound(err)) return false;
        throw err;
      },
    );
    if (!exists) await jsm.streams.add(config);
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
