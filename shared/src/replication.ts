import type { JetStreamClient, JetStreamManager, KV, KvOptions, StreamConfig } from "nats";
import type { Logger } from "./logger.ts";
import type { StreamSettings } from "./nats.ts";

/** A stream or bucket could not be brought to the configuration the service was started with. */
export class ProvisionError extends Error {
  override name = "ProvisionError";
}

/** How provisioning treats an existing stream's replica count, and where it logs a change. */
export interface ProvisionOptions {
  log?: Logger;
  /**
   * NATS_REPLICAS was set: a count below a stream's is a scale-down to carry out. Unset (1 by default), it is more
   * likely a process started without the cluster's settings, and the start stops instead of dropping copies.
   */
  scaleDown?: boolean;
}

/** How many copies of each stream and bucket the cluster keeps (NATS_REPLICAS). */
export interface Replication extends ProvisionOptions {
  replicas: number;
}

/** The replication a service's stream settings ask for. */
export const replicationOf = (settings: StreamSettings, log: Logger): Replication => ({
  replicas: settings.replicas,
  scaleDown: settings.scaleDown,
  log,
});

/** The settings of `wanted` that the existing stream does not have already (defaults the server filled in aside). */
export function changedSettings(existing: StreamConfig, wanted: Partial<StreamConfig>): string[] {
  const current = existing as unknown as Record<string, unknown>;
  return Object.entries(wanted)
    .filter(([key, value]) => value !== undefined && JSON.stringify(current[key]) !== JSON.stringify(value))
    .map(([key]) => key);
}

/**
 * Updates an existing stream to `wanted`, only where it differs: a secured server lets the services create the
 * streams but not change them (an update could empty a stream), so an unchanged stream must cost no update.
 * A replica count that differs is changed (JetStream scales a stream
 * up and down in place; its consumers, created with the stream's count, follow it), and said in the log; when
 * JetStream refuses (more replicas than servers, a server down), the start stops with a ProvisionError naming
 * the stream and both counts instead of silently running on the old count.
 */
export async function updateStream(
  jsm: JetStreamManager,
  existing: StreamConfig,
  wanted: Partial<StreamConfig>,
  options: ProvisionOptions = {},
): Promise<void> {
  const { log } = options;
  const from = existing.num_replicas;
  const to = wanted.num_replicas ?? from;
  if (to < from && !options.scaleDown) {
    throw new ProvisionError(
      `stream ${existing.name} has ${from} replicas and NATS_REPLICAS is not set (1 by default): set NATS_REPLICAS=${from} to keep them, or NATS_REPLICAS=${to} to scale it down`,
    );
  }
  const changed = changedSettings(existing, wanted);
  if (changed.length === 0) return;
  try {
    await whileJetStreamBusy(
      `updating stream ${existing.name}`,
      () => jsm.streams.update(existing.name, { ...existing, ...wanted }),
      log,
    );
  } catch (err) {
    // On a secured server only the ops user may change the project's streams and the buckets the services read.
    const hint = isPermissionViolation(err) ? " (this user may not: run `pnpm ops provision` as the ops user)" : "";
    const reason = err instanceof Error ? err.message : String(err);
    if (to === from) {
      if (!hint) throw err;
      throw new ProvisionError(
        `stream ${existing.name} differs from this service's settings (${changed.join(", ")}): ${reason}${hint}`,
        { cause: err },
      );
    }
    throw new ProvisionError(
      `stream ${existing.name} has ${from} replica(s) and NATS_REPLICAS asks for ${to}; JetStream refused the change: ${reason}${hint}`,
      { cause: err },
    );
  }
  if (to === from) return;
  await untilSettled(jsm, existing.name, to);
  log?.warn({ stream: existing.name, from, to }, `stream ${existing.name} scaled from ${from} to ${to} replica(s)`);
}

/**
 * Waits until a stream just scaled has a leader and every replica is current. Until then JetStream answers
 * without a leader, and a watch started meanwhile saw an empty bucket (the gateway then started with no keys).
 */
async function untilSettled(jsm: JetStreamManager, stream: string, replicas: number, forMs = 60_000): Promise<void> {
  const deadline = Date.now() + forMs;
  for (;;) {
    const info = await whileJetStreamBusy(`reading stream ${stream}`, () => jsm.streams.info(stream));
    const followers = info.cluster?.replicas ?? [];
    const settled =
      replicas === 1
        ? info.cluster?.leader !== undefined || info.cluster === undefined
        : info.cluster?.leader !== undefined &&
          followers.length === replicas - 1 &&
          followers.every((peer) => peer.current);
    if (settled) return;
    if (Date.now() > deadline) {
      throw new ProvisionError(
        `stream ${stream} was scaled to ${replicas} replica(s) but has not settled within ${forMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Opens a key-value bucket, creating it if missing. With `replication`, the bucket is kept at that many replicas:
 * created with them, or an existing bucket scaled to them (`js.views.kv` alone would silently keep the old count).
 * Without it (the operators' CLI), an existing bucket is used as it is.
 */
export async function openBucket(
  js: JetStreamClient,
  name: string,
  options: Partial<KvOptions>,
  replication?: Replication,
): Promise<KV> {
  const log = replication?.log;
  const kv = await whileJetStreamBusy(
    `opening bucket ${name}`,
    () => js.views.kv(name, replication ? { ...options, replicas: replication.replicas } : options),
    log,
  );
  if (!replication) return kv;
  const { streamInfo } = await whileJetStreamBusy(`reading bucket ${name}`, () => kv.status(), log);
  if (streamInfo.config.num_replicas !== replication.replicas) {
    const jsm = await js.jetstreamManager();
    await updateStream(jsm, streamInfo.config, { num_replicas: replication.replicas }, replication);
  }
  return kv;
}

/**
 * Whether a JetStream API request failed only because the cluster is between leaders: no answer in time (a
 * stream's or the meta group's leader being elected, or a stream being scaled), no responders, or "JetStream
 * system temporarily unavailable". Such a request is worth repeating; any other failure is not.
 */
export function isJetStreamBusy(err: unknown): boolean {
  const { code, api_error } = err as { code?: unknown; api_error?: { code?: number; err_code?: number } };
  return code === "TIMEOUT" || code === "503" || api_error?.code === 503 || api_error?.err_code === 10008;
}

/**
 * Runs a provisioning request, repeating it while the cluster is between leaders (isJetStreamBusy) for at most
 * `forMs`: services started together, or during an election, would otherwise stop on a 5 s timeout.
 */
export async function whileJetStreamBusy<T>(
  what: string,
  request: () => Promise<T>,
  log?: Logger,
  forMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (err) {
      if (!isJetStreamBusy(err)) throw err;
      if (Date.now() > deadline) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new ProvisionError(`JetStream did not answer while ${what} for ${forMs / 1000} s: ${reason}`, {
          cause: err,
        });
      }
      log?.info({ attempt, reason: (err as Error).message }, `JetStream busy while ${what}; trying again`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 250 * attempt)));
    }
  }
}

const isPermissionViolation = (err: unknown) => (err as { code?: unknown }).code === "PERMISSIONS_VIOLATION";

/**
 * For `.catch` at a service's start: a ProvisionError, or a request refused for this user's permissions (another
 * service's credentials), stops it with one line; anything else is rethrown.
 */
export function exitOnProvisionError(log: Logger): (err: unknown) => never {
  return (err) => {
    if (!(err instanceof ProvisionError) && !isPermissionViolation(err)) throw err;
    const message =
      err instanceof ProvisionError
        ? err.message
        : `NATS refused this user: ${(err as Error).message} (is this the service's own NATS user? pnpm ops nats-config)`;
    log.fatal({ err: { message } }, message);
    process.exit(1);
  };
}
