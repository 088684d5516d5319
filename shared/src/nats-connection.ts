import { connect, type JetStreamManager, type NatsConnection } from "nats";
import { natsServers } from "./config.ts";
import type { Logger } from "./logger.ts";

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
