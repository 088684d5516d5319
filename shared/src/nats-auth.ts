import { accessSync, constants, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { type ConnectionOptions, credsAuthenticator, nkeyAuthenticator, type TlsOptions } from "nats";
import * as v from "valibot";
import { ConfigError, natsServers } from "./config.ts";

/** How a process proves who it is to NATS: one kind at most, and where it came from (for messages). */
export type NatsCredentials =
  | { kind: "none" }
  | { kind: "user"; user: string; password: string; from: "NATS_USER and NATS_PASSWORD" | "NATS_URL" }
  | { kind: "token"; token: string; from: "NATS_TOKEN" | "NATS_URL" }
  | { kind: "creds"; creds: string; from: "NATS_CREDS" }
  | { kind: "nkey"; seed: string; from: "NATS_NKEY_SEED_FILE" };

/** Paths nats.js reads when it connects; present (possibly empty) whenever TLS is required. */
export interface NatsTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface NatsAuth {
  credentials: NatsCredentials;
  tls?: NatsTls;
}

export const noNatsAuth: NatsAuth = { credentials: { kind: "none" } };

const readableFile = v.pipe(
  v.string(),
  v.check((path) => {
    try {
      accessSync(path, constants.R_OK);
      return true;
    } catch {
      return false;
    }
  }, "must be the path of a file this process can read"),
);

/** A file read once at start; a message names the path and what is wrong, never the content. */
function secretFile(shape: RegExp, what: string) {
  return v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      let text: string;
      try {
        text = readFileSync(dataset.value, "utf8");
      } catch (err) {
        addIssue({ message: `cannot read ${dataset.value} (${(err as NodeJS.ErrnoException).code ?? "error"})` });
        return NEVER;
      }
      if (!shape.test(text)) {
        addIssue({ message: `${dataset.value} is not ${what}` });
        return NEVER;
      }
      return text;
    }),
  );
}

/** The variables every process that connects to NATS reads beside NATS_URL. */
export const natsAuthEnv = {
  NATS_USER: v.optional(v.string()),
  NATS_PASSWORD: v.optional(v.string()),
  NATS_TOKEN: v.optional(v.string()),
  NATS_CREDS: v.optional(
    secretFile(
      /-----BEGIN NATS USER JWT-----[\s\S]+-----BEGIN USER NKEY SEED-----/,
      "a NATS credentials file (a user JWT and its nkey seed)",
    ),
  ),
  NATS_NKEY_SEED_FILE: v.optional(secretFile(/^\s*SU[A-Z2-7]{56}\s*$/, "a file holding one user nkey seed (SU...)")),
  NATS_TLS_CA_FILE: v.optional(readableFile),
  NATS_TLS_CERT_FILE: v.optional(readableFile),
  NATS_TLS_KEY_FILE: v.optional(readableFile),
};

type NatsAuthVariables = v.InferOutput<v.ObjectSchema<typeof natsAuthEnv, undefined>> & { NATS_URL: string };

const configError = (variables: string, problem: string) =>
  new ConfigError(`invalid configuration: ${variables}: ${problem}`);

const decoded = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** The credentials written into NATS_URL (`nats://user:password@host`, `nats://token@host`), which nats.js ignores. */
function urlCredentials(natsUrl: string): NatsCredentials {
  const given = new Set<string>();
  let found: NatsCredentials = { kind: "none" };
  for (const server of natsServers(natsUrl)) {
    const url = URL.parse(server);
    if (!url || (url.username === "" && url.password === "")) continue;
    const user = decoded(url.username);
    const password = decoded(url.password);
    given.add(`${url.username}:${url.password}`);
    found =
      password === ""
        ? { kind: "token", token: user, from: "NATS_URL" }
        : { kind: "user", user, password, from: "NATS_URL" };
  }
  if (given.size > 1) throw configError("NATS_URL", "its servers carry different credentials: give them once");
  return found;
}

function credentialsFrom(env: NatsAuthVariables): NatsCredentials {
  if ((env.NATS_USER === undefined) !== (env.NATS_PASSWORD === undefined)) {
    const [missing, other] =
      env.NATS_USER === undefined ? ["NATS_USER", "NATS_PASSWORD"] : ["NATS_PASSWORD", "NATS_USER"];
    throw configError(missing, `is required with ${other}: set both or neither`);
  }
  const given: Array<{ variables: string; credentials: NatsCredentials }> = [];
  const fromUrl = urlCredentials(env.NATS_URL);
  if (fromUrl.kind !== "none") given.push({ variables: "NATS_URL (user or token in it)", credentials: fromUrl });
  if (env.NATS_USER !== undefined && env.NATS_PASSWORD !== undefined) {
    const credentials = { kind: "user", user: env.NATS_USER, password: env.NATS_PASSWORD } as const;
    given.push({ variables: "NATS_USER", credentials: { ...credentials, from: "NATS_USER and NATS_PASSWORD" } });
  }
  if (env.NATS_TOKEN !== undefined)
    given.push({ variables: "NATS_TOKEN", credentials: { kind: "token", token: env.NATS_TOKEN, from: "NATS_TOKEN" } });
  if (env.NATS_CREDS !== undefined)
    given.push({ variables: "NATS_CREDS", credentials: { kind: "creds", creds: env.NATS_CREDS, from: "NATS_CREDS" } });
  if (env.NATS_NKEY_SEED_FILE !== undefined) {
    const credentials = { kind: "nkey", seed: env.NATS_NKEY_SEED_FILE.trim(), from: "NATS_NKEY_SEED_FILE" } as const;
    given.push({ variables: "NATS_NKEY_SEED_FILE", credentials });
  }
  if (given.length > 1) {
    throw configError(
      given.map((entry) => entry.variables).join(", "),
      "give one kind of NATS credential: NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY_SEED_FILE, or a user in NATS_URL",
    );
  }
  return given[0]?.credentials ?? { kind: "none" };
}

function tlsFrom(env: NatsAuthVariables): NatsTls | undefined {
  if ((env.NATS_TLS_CERT_FILE === undefined) !== (env.NATS_TLS_KEY_FILE === undefined)) {
    const [missing, other] =
      env.NATS_TLS_CERT_FILE === undefined
        ? ["NATS_TLS_CERT_FILE", "NATS_TLS_KEY_FILE"]
        : ["NATS_TLS_KEY_FILE", "NATS_TLS_CERT_FILE"];
    throw configError(missing, `is required with ${other}: a client certificate goes with its key`);
  }
  const tlsScheme = natsServers(env.NATS_URL).some((server) => server.toLowerCase().startsWith("tls://"));
  const files = {
    ...(env.NATS_TLS_CA_FILE === undefined ? {} : { caFile: env.NATS_TLS_CA_FILE }),
    ...(env.NATS_TLS_CERT_FILE === undefined ? {} : { certFile: env.NATS_TLS_CERT_FILE }),
    ...(env.NATS_TLS_KEY_FILE === undefined ? {} : { keyFile: env.NATS_TLS_KEY_FILE }),
  };
  return tlsScheme || Object.keys(files).length > 0 ? files : undefined;
}

/**
 * The credentials and TLS settings of the parsed variables, or a ConfigError naming the variables when they
 * contradict each other (two kinds of credential, a user without a password, a certificate without its key).
 * TLS is required when a server of NATS_URL is `tls://` or a NATS_TLS_* file is given (nats.js itself ignores
 * the scheme and uses TLS only when the server asks for it).
 */
export function natsAuthFrom(env: NatsAuthVariables): NatsAuth | undefined {
  const tls = tlsFrom(env);
  const credentials = credentialsFrom(env);
  // Nothing given: undefined, the plain connection of a local machine.
  if (credentials.kind === "none" && !tls) return undefined;
  return { credentials, ...(tls ? { tls } : {}) };
}

/**
 * Node checks an IP-address server's certificate against the name "localhost" (it has no server name, and
 * nats.js gives none for an IP): a certificate valid for one of NATS_URL's IP addresses passes then. The chain
 * is checked as always (rejectUnauthorized).
 */
function serverIdentity(natsUrl: string) {
  const ipSeeds = natsServers(natsUrl)
    .map((server) => URL.parse(server)?.hostname.replace(/^\[|\]$/g, "") ?? "")
    .filter((host) => isIP(host) !== 0);
  return (hostname: string, cert: PeerCertificate): Error | undefined => {
    const error = checkServerIdentity(hostname, cert);
    if (!error || hostname !== "localhost") return error;
    return ipSeeds.some((host) => checkServerIdentity(host, cert) === undefined) ? undefined : error;
  };
}

function tlsOptions(natsUrl: string, tls: NatsTls): TlsOptions {
  // nats.js hands its whole tls object to Node's tls.connect (node_transport.js, startTLS), this check included.
  return { ...tls, checkServerIdentity: serverIdentity(natsUrl) } as TlsOptions;
}

/** The nats.js connection options for NATS_URL's servers and `auth`. */
export function natsConnectionOptions(natsUrl: string, auth: NatsAuth = noNatsAuth): Partial<ConnectionOptions> {
  const base = { servers: natsServers(natsUrl), ...(auth.tls ? { tls: tlsOptions(natsUrl, auth.tls) } : {}) };
  const { credentials } = auth;
  const encode = (text: string) => new TextEncoder().encode(text);
  switch (credentials.kind) {
    case "none":
      return base;
    case "user":
      return { ...base, user: credentials.user, pass: credentials.password };
    case "token":
      return { ...base, token: credentials.token };
    case "creds":
      return { ...base, authenticator: credsAuthenticator(encode(credentials.creds)) };
    case "nkey":
      return { ...base, authenticator: nkeyAuthenticator(encode(credentials.seed)) };
  }
}

/** Where to look when the server refuses the credentials: the variables, never their values. */
export function credentialsSource(auth: NatsAuth = noNatsAuth): string {
  const { credentials } = auth;
  if (credentials.kind === "none") return "none were given";
  return credentials.from === "NATS_URL" ? "the user, password or token in NATS_URL" : credentials.from;
}
