import { connect, type JetStreamManager, type NatsConnection } from "nats";
import type { Logger } from "./logger.ts";
import { credentialsSource, type NatsAuth, natsConnectionOptions, noNatsAuth } from "./nats-auth.ts";
import { ProvisionError, whileJetStreamBusy } from "./replication.ts";

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
  /** Credentials and TLS, from natsAuthFrom; none (a plain connection) when undefined. */
  auth?: NatsAuth | undefined;
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
  // Closed with an error (not drained at shutdown): nothing will reconnect it, so the process must not go on
  // looking alive with /healthz 200; its supervisor restarts it.
  void nc.closed().then((err) => {
    if (!err) return;
    options.log.fatal({ err: { message: err.message } }, `NATS connection closed for good: ${err.message}`);
    process.exit(1);
  });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") connectedState.set(nc, false);
      if (status.type === "reconnect") connectedState.set(nc, true);
      if (status.type === "pingTimer") continue;
      if (status.permissionContext) {
        // A subject this user may not use: a permissions list that lags behind the code, worth a warning each time.
        const { operation, subject } = status.permissionContext;
        options.log.warn(
          { natsStatus: status.type, natsData: String(status.data), operation, subject },
          `NATS refused ${operation === "publish" ? "a publish to" : "a subscription to"} ${subject}: permissions violation`,
        );
        continue;
      }
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
        ...natsConnectionOptions(options.servers, options.auth),
        name: options.name,
        maxReconnectAttempts: -1,
        // Two identical authorization errors in a row would otherwise end the reconnecting for good, as during a
        // password rotation or a staggered config reload; each is logged and the next attempt may succeed.
        ignoreAuthErrorAbort: true,
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
      const refusal = natsRefusal(err, options.auth);
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

// Node's codes for a server certificate it cannot trust.
const untrustedCertificate = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
]);

/**
 * Why the server refused us for good, naming the variables to check (never their values), or undefined when
 * the failure may pass (not up yet, unreachable).
 */
export function natsRefusal(err: unknown, auth: NatsAuth = noNatsAuth): string | undefined {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code !== "string") return undefined;
  const source = credentialsSource(auth);
  switch (code) {
    case "AUTHORIZATION_VIOLATION":
      return auth.credentials.kind === "none"
        ? "authorization violation: the server requires credentials and none were given (set NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS or NATS_NKEY_SEED_FILE)"
        : `authorization violation (check ${source})`;
    case "AUTHENTICATION_EXPIRED":
    case "ACCOUNT_EXPIRED":
      return `authentication expired (renew ${source})`;
    case "BAD_AUTHENTICATION":
    case "BAD_CREDS":
      return `bad authentication (check ${source})`;
    case "SERVER_OPT_NA":
      // nats.js's one server option we ask for is TLS (its message is "tls").
      return message === "tls"
        ? "TLS is required (a tls:// server in NATS_URL, or a NATS_TLS_* file) but the server does not offer it"
        : undefined;
    case "TLS":
      return `TLS failed: ${message} (check NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE)`;
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return `the server's TLS certificate is not for this address: ${message} (use a name or address in NATS_URL that it lists)`;
  }
  if (untrustedCertificate.has(code))
    return `the server's TLS certificate is not trusted: ${message} (give the CA that signed it in NATS_TLS_CA_FILE)`;
  if (code.startsWith("ERR_SSL_"))
    return `the TLS handshake failed: ${message} (check NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE if the server asks for a client certificate)`;
  return undefined;
}

/** No responders on the JetStream API: the server runs without JetStream (not a passing state). */
class JetStreamDisabled extends Error {}

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
    // No answer in time: the cluster is electing its meta leader (a node just died); worth waiting for.
    return await whileJetStreamBusy(
      "checking JetStream",
      () =>
        nc.jetstreamManager(options).catch((err: unknown) => {
          // No responders at all; a cluster without a meta leader answers 503 too, but as an API error (10008).
          const { code, api_error } = err as { code?: unknown; api_error?: unknown };
          if (code === "503" && api_error === undefined) throw new JetStreamDisabled();
          throw err;
        }),
      log,
    );
  } catch (err) {
    if (err instanceof ProvisionError) {
      log.fatal({ err: { message: err.message } }, err.message);
      process.exit(1);
    }
    if (!(err instanceof JetStreamDisabled)) throw err;
    const where = natsUrlForLog(servers);
    log.fatal({ natsUrl: where }, `JetStream is not enabled on NATS at ${where}: start nats-server with -js`);
    process.exit(1);
  }
}
