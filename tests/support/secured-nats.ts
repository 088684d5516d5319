import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type NatsCredentials,
  type NatsRole,
  natsConnectionOptions,
  natsPasswordVariable,
  natsRoles,
  natsUserName,
} from "@evpipe/shared";
import { type ConnectionOptions, nkeys } from "nats";
import { freePort } from "./free-port.ts";
import { natsServerBinary, type RunningService, runOps, type ServiceRun } from "./processes.ts";

/** A run's whole output, for failure messages. */
export const runOutput = (run: ServiceRun) => `${run.stdout}${run.stderr}`;

/** How a service's start failed, to assert in one: its exit code, its error and fatal lines, whether a stack showed. */
export function startFailure(run: ServiceRun): { code: number | null; problems: string[]; stack: boolean } {
  const problems = run.lines.filter((line) => line.level === "fatal" || line.level === "error");
  return {
    code: run.code,
    problems: problems.map((line) => String(line.msg)),
    stack: runOutput(run).includes("    at "),
  };
}

/** A service's log lines telling of a request NATS refused for its permissions. */
export const permissionWarnings = (service: RunningService) =>
  service.lines.filter((line) => String(line.msg).includes("permissions violation"));

/** A certificate authority and a server certificate for 127.0.0.1 it signed, made by openssl in `dir`. */
export interface TestCertificates {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export function makeCertificates(dir: string): TestCertificates {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl(
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=evpipe test CA"],
    ...["-keyout", file("ca.key"), "-out", file("ca.pem")],
  );
  openssl(
    ...["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"],
    ...["-keyout", file("server.key"), "-out", file("server.csr")],
  );
  writeFileSync(file("server.ext"), "subjectAltName=IP:127.0.0.1\n");
  openssl(
    ...["x509", "-req", "-in", file("server.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key")],
    ...["-CAcreateserial", "-days", "2", "-extfile", file("server.ext"), "-out", file("server.pem")],
  );
  return { caFile: file("ca.pem"), certFile: file("server.pem"), keyFile: file("server.key") };
}

export interface SecuredNats {
  url: string;
  port: number;
  /** The directory of its store, config, certificates and nkey seeds. */
  dir: string;
  /** The variables that give a role its credentials, as that service is given them. */
  credentials(role: NatsRole): Record<string, string>;
  /** nats.js's options to connect as a role, built as the services build theirs. */
  connectOptions(role: NatsRole): Partial<ConnectionOptions>;
  cleanup(): Promise<void>;
}

/** A role's credentials on a test server: the variables a service is given, and what they parse to. */
interface Login {
  variables: Record<string, string>;
  credentials: NatsCredentials;
  /** An nkey user's public key, for the server's config. */
  publicNkey?: string;
}

/**
 * nats-server parses a `$VAR`'s value as a config value: random hex can read as a number ("7e3...") and stop
 * it, a letter first keeps it a string.
 */
const serverSecret = () => `s${randomBytes(12).toString("hex")}`;

function passwordLogin(role: NatsRole, namespace: string): Login {
  const user = natsUserName(role, namespace);
  const password = serverSecret();
  return {
    variables: { NATS_USER: user, NATS_PASSWORD: password },
    credentials: { kind: "user", user, password, from: "NATS_USER and NATS_PASSWORD" },
  };
}

// nats.js re-exports nkeys.js untyped; createUser() makes a user key pair, its seed "SU..." and public key "U...".
const createUserKey = () => (nkeys as { createUser(): { getSeed(): Uint8Array; getPublicKey(): string } }).createUser();

/** A new user nkey whose seed is written to a file of `dir`, for NATS_NKEY_SEED_FILE. */
function nkeyLogin(dir: string, role: NatsRole): Login {
  const key = createUserKey();
  const seed = new TextDecoder().decode(key.getSeed());
  const file = path.join(dir, `${role}.nk`);
  writeFileSync(file, `${seed}\n`, { mode: 0o600 });
  return {
    publicNkey: key.getPublicKey(),
    variables: { NATS_NKEY_SEED_FILE: file },
    credentials: { kind: "nkey", seed, from: "NATS_NKEY_SEED_FILE" },
  };
}

/** Runs `start` in a new temporary directory, removed again when the start fails. */
async function inTempDir<T>(start: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), "evp-nats-secured-"));
  try {
    return await start(dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function stopServer(child: ChildProcess): Promise<void> {
  // Never spawned (no pid) or already gone: there is no exit to wait for.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

/** Resolves when nats-server says it is ready; rejects at once when it exits or cannot be spawned. */
function untilReady(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`nats-server not ready in ${timeoutMs} ms: ${output}`)), timeoutMs);
    const settle = (err?: Error) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    // Read for as long as it runs: a full pipe would block its logging.
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (/Server is ready/.test(output)) settle();
    });
    child.once("exit", (code, signal) => settle(new Error(`nats-server exited (${code ?? signal}): ${output}`)));
    child.once("error", (err) => settle(new Error(`nats-server did not start: ${err.message}`)));
  });
}

/**
 * Starts nats-server with JetStream in `dir`, `auth` being its config's `authorization` or `accounts` block and
 * `serverEnv` added to its environment (the variables that block reads). A server that does not get ready is
 * killed before the error is thrown; the caller removes `dir`.
 */
async function launch(
  dir: string,
  options: {
    auth: string;
    serverEnv: Record<string, string>;
    loginOf: (role: NatsRole) => Login;
    certificates?: TestCertificates;
  },
): Promise<SecuredNats> {
  const { certificates, loginOf } = options;
  const port = await freePort();
  const tlsBlock = certificates
    ? `tls {\n  cert_file: ${JSON.stringify(certificates.certFile)}\n  key_file: ${JSON.stringify(certificates.keyFile)}\n}\n`
    : "";
  const config = `listen: 127.0.0.1:${port}\njetstream { store_dir: ${JSON.stringify(path.join(dir, "store"))} }\n${tlsBlock}${options.auth}`;
  writeFileSync(path.join(dir, "nats-server.conf"), config);
  const child: ChildProcess = spawn(natsServerBinary(), ["-c", path.join(dir, "nats-server.conf")], {
    env: { ...process.env, ...options.serverEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    await untilReady(child, 10_000);
  } catch (err) {
    await stopServer(child);
    throw err;
  }
  const url = `nats://127.0.0.1:${port}`;
  const tls = certificates ? { tls: { caFile: certificates.caFile } } : {};
  return {
    url,
    port,
    dir,
    credentials: (role) => loginOf(role).variables,
    connectOptions: (role) => natsConnectionOptions(url, { credentials: loginOf(role).credentials, ...tls }),
    async cleanup() {
      await stopServer(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An account on the server beside the project's, with JetStream and one user allowed everything. */
export interface OtherAccount {
  /** Its entry in the server's `accounts` block. */
  config: string;
  connectOptions(url: string): Partial<ConnectionOptions>;
}

export function otherAccount(name: string): OtherAccount {
  const user = `${name.toLowerCase()}-user`;
  const password = serverSecret();
  return {
    config: `  ${name}: {\n    jetstream: enabled\n    users = [{ user: ${JSON.stringify(user)}, password: ${JSON.stringify(password)} }]\n  }\n`,
    connectOptions: (url) => ({ servers: url, user, pass: password }),
  };
}

/** A second `accounts` block would replace the first: other accounts go into the generated one. */
function besideProjectAccount(generated: string, accounts: string): string {
  const opening = "\naccounts {\n";
  if (!generated.includes(opening)) throw new Error(`ops nats-config printed no accounts block: ${generated}`);
  return generated.replace(opening, `${opening}${accounts}`);
}

/**
 * A private nats-server with JetStream whose users and permissions are exactly what `pnpm ops nats-config`
 * prints for `namespace`: each role a user with a random password given to the server in its environment, or,
 * for the roles in `nkeyRoles`, an nkey user (`--nkey ROLE=U...`) whose seed is a file in `dir`; with `tls`,
 * it requires TLS with a certificate signed by a CA of its own; `otherAccounts` (from `otherAccount`) sit beside
 * the project's.
 */
export async function startSecuredNats(
  namespace: string,
  options: { tls?: boolean; nkeyRoles?: readonly NatsRole[]; otherAccounts?: string } = {},
): Promise<SecuredNats> {
  return inTempDir(async (dir) => {
    const nkeyRoles = new Set(options.nkeyRoles);
    const login = (role: NatsRole) => (nkeyRoles.has(role) ? nkeyLogin(dir, role) : passwordLogin(role, namespace));
    // Complete: one entry for each of natsRoles.
    const logins = Object.fromEntries(natsRoles.map((role) => [role, login(role)])) as Record<NatsRole, Login>;
    const nkeyArguments = natsRoles.flatMap((role) => {
      const { publicNkey } = logins[role];
      return publicNkey ? ["--nkey", `${role}=${publicNkey}`] : [];
    });
    const generated = await runOps(["nats-config", ...nkeyArguments], { NATS_NAMESPACE: namespace });
    if (generated.code !== 0) throw new Error(`ops nats-config exited ${generated.code}: ${generated.stderr}`);
    const serverEnv = Object.fromEntries(
      natsRoles.flatMap((role) => {
        const { credentials } = logins[role];
        return credentials.kind === "user" ? [[natsPasswordVariable(role, namespace), credentials.password]] : [];
      }),
    );
    return launch(dir, {
      auth: options.otherAccounts ? besideProjectAccount(generated.stdout, options.otherAccounts) : generated.stdout,
      serverEnv,
      loginOf: (role) => logins[role],
      ...(options.tls ? { certificates: makeCertificates(dir) } : {}),
    });
  });
}

/**
 * A private nats-server with JetStream that admits one random token and nothing else (`authorization { token }`
 * cannot sit beside users): every role's credentials are that token in NATS_TOKEN.
 */
export async function startTokenNats(): Promise<SecuredNats> {
  return inTempDir(async (dir) => {
    const token = serverSecret();
    const login: Login = {
      variables: { NATS_TOKEN: token },
      credentials: { kind: "token", token, from: "NATS_TOKEN" },
    };
    return launch(dir, {
      auth: "authorization {\n  token: $EVPIPE_TEST_NATS_TOKEN\n}\n",
      serverEnv: { EVPIPE_TEST_NATS_TOKEN: token },
      loginOf: () => login,
    });
  });
}
