import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { PeerCertificate } from "node:tls";
import { nkeys } from "nats";
import * as v from "valibot";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./config.ts";
import { credentialsSource, natsConnectionOptions } from "./nats-auth.ts";
import { natsRefusal } from "./nats-connection.ts";
import { serviceConfigFrom, serviceEnv } from "./service-config.ts";

const dir = mkdtempSync(path.join(tmpdir(), "evp-nats-auth-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const at = path.join(dir, name);
  writeFileSync(at, content);
  return at;
};

const serviceConfig = v.pipe(v.object(serviceEnv), v.transform(serviceConfigFrom));
/** The NATS auth a service would connect with, parsed as every service parses its environment. */
const authOf = (env: Record<string, string>) => parseConfig(serviceConfig, env).natsAuth;
const failureOf = (env: Record<string, string>): string => {
  try {
    authOf(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
};

const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
const creds = `-----BEGIN NATS USER JWT-----\neyJhbGciOi.jwt.sig\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;

describe("NATS credentials in the environment", () => {
  it("connects plainly when nothing is given", () => {
    expect(authOf({})).toBeUndefined();
    expect(natsConnectionOptions("nats://a:4222,nats://b:4222", undefined)).toEqual({
      servers: ["nats://a:4222", "nats://b:4222"],
    });
  });

  it("takes a user and password, from the variables or from NATS_URL (which nats.js alone ignores)", () => {
    const fromVariables = authOf({ NATS_USER: "gw", NATS_PASSWORD: "pw" });
    expect(fromVariables?.credentials).toEqual({
      kind: "user",
      user: "gw",
      password: "pw",
      from: "NATS_USER and NATS_PASSWORD",
    });
    expect(natsConnectionOptions("nats://h:4222", fromVariables)).toMatchObject({ user: "gw", pass: "pw" });
    const fromUrl = authOf({ NATS_URL: "nats://gw:p%40ss@h:4222,nats://gw:p%40ss@i:4222" });
    expect(fromUrl?.credentials).toEqual({ kind: "user", user: "gw", password: "p@ss", from: "NATS_URL" });
    expect(authOf({ NATS_URL: "nats://s3cr3t-token@h:4222" })?.credentials).toEqual({
      kind: "token",
      token: "s3cr3t-token",
      from: "NATS_URL",
    });
  });

  it("reads a creds file and an nkey seed file once, at start", () => {
    const fromCreds = authOf({ NATS_CREDS: file("user.creds", creds) });
    expect(fromCreds?.credentials).toMatchObject({ kind: "creds", from: "NATS_CREDS" });
    expect(typeof natsConnectionOptions("nats://h:4222", fromCreds).authenticator).toBe("function");
    const fromSeed = authOf({ NATS_NKEY_SEED_FILE: file("user.nk", `${seed}\n`) });
    expect(fromSeed?.credentials).toEqual({ kind: "nkey", seed, from: "NATS_NKEY_SEED_FILE" });
    expect(typeof natsConnectionOptions("nats://h:4222", fromSeed).authenticator).toBe("function");
  });

  it("refuses two kinds of credential at once, naming the variables and never a value", () => {
    const message = failureOf({
      NATS_URL: "nats://u:url-secret@h:4222",
      NATS_USER: "gw",
      NATS_PASSWORD: "pw-secret",
      NATS_TOKEN: "token-secret",
    });
    expect(message).toBe(
      "invalid configuration: NATS_URL (user or token in it), NATS_USER, NATS_TOKEN: give one kind of NATS credential: NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY_SEED_FILE, or a user in NATS_URL",
    );
    expect(failureOf({ NATS_TOKEN: "t", NATS_NKEY_SEED_FILE: file("two.nk", seed) })).toContain(
      "NATS_TOKEN, NATS_NKEY_SEED_FILE: give one kind",
    );
    expect(failureOf({ NATS_URL: "nats://a:x@h:1,nats://b:y@i:2" })).toBe(
      "invalid configuration: NATS_URL: its servers carry different credentials: give them once",
    );
  });

  it("names the half of a pair that is missing", () => {
    expect(failureOf({ NATS_USER: "gw" })).toBe(
      "invalid configuration: NATS_PASSWORD: is required with NATS_USER: set both or neither",
    );
    expect(failureOf({ NATS_PASSWORD: "pw-secret" })).toBe(
      "invalid configuration: NATS_USER: is required with NATS_PASSWORD: set both or neither",
    );
    expect(failureOf({ NATS_TLS_CERT_FILE: file("c.pem", "x") })).toBe(
      "invalid configuration: NATS_TLS_KEY_FILE: is required with NATS_TLS_CERT_FILE: a client certificate goes with its key",
    );
  });

  it("names a file that cannot be read or is not what it should be, without its content", () => {
    const missing = path.join(dir, "missing.creds");
    expect(failureOf({ NATS_CREDS: missing })).toBe(
      `invalid configuration: NATS_CREDS: cannot read ${missing} (ENOENT)`,
    );
    const notCreds = file("seed-only.creds", seed);
    const message = failureOf({ NATS_CREDS: notCreds, NATS_NKEY_SEED_FILE: file("bad.nk", "SUnot-a-seed") });
    expect(message).toContain(`NATS_CREDS: ${notCreds} is not a NATS credentials file`);
    expect(message).toContain("NATS_NKEY_SEED_FILE: ");
    expect(message).toContain("is not a file holding one user nkey seed");
    expect(message).not.toContain(seed);
    expect(message).not.toContain("SUnot-a-seed");
    expect(failureOf({ NATS_TLS_CA_FILE: missing })).toBe(
      "invalid configuration: NATS_TLS_CA_FILE: must be the path of a file this process can read",
    );
  });

  it("requires TLS for a tls:// server or a NATS_TLS_* file, with the files nats.js reads", () => {
    expect(authOf({ NATS_URL: "tls://h:4222" })).toEqual({ credentials: { kind: "none" }, tls: {} });
    const ca = file("ca.pem", "x");
    const cert = file("client.pem", "x");
    const key = file("client.key", "x");
    const auth = authOf({ NATS_TLS_CA_FILE: ca, NATS_TLS_CERT_FILE: cert, NATS_TLS_KEY_FILE: key });
    expect(auth?.tls).toEqual({ caFile: ca, certFile: cert, keyFile: key });
    expect(natsConnectionOptions("nats://h:4222", auth).tls).toMatchObject({
      caFile: ca,
      certFile: cert,
      keyFile: key,
    });
  });

  it("checks an IP server's certificate against NATS_URL's addresses (Node would check it against localhost)", () => {
    const cert = { subject: { CN: "10.0.0.7" }, subjectaltname: "IP Address:10.0.0.7" } as unknown as PeerCertificate;
    const check = (natsUrl: string) => {
      const tls = natsConnectionOptions(natsUrl, authOf({ NATS_URL: natsUrl })).tls as {
        checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
      };
      return tls.checkServerIdentity;
    };
    expect(check("tls://10.0.0.9:4222,tls://10.0.0.7:4222")("localhost", cert)).toBeUndefined();
    expect(check("tls://10.0.0.9:4222")("localhost", cert)).toBeInstanceOf(Error);
    expect(check("tls://10.0.0.7:4222")("nats.example.com", cert)).toBeInstanceOf(Error);
  });
});

describe("natsRefusal", () => {
  const error = (code: string, message = code) => Object.assign(new Error(message), { code });
  const user = authOf({ NATS_USER: "gw", NATS_PASSWORD: "pw" });

  it.each([
    [
      "AUTHORIZATION_VIOLATION",
      undefined,
      "authorization violation: the server requires credentials and none were given (set NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS or NATS_NKEY_SEED_FILE)",
    ],
    ["AUTHORIZATION_VIOLATION", user, "authorization violation (check NATS_USER and NATS_PASSWORD)"],
    [
      "AUTHORIZATION_VIOLATION",
      authOf({ NATS_URL: "nats://u:p@h:1" }),
      "authorization violation (check the user, password or token in NATS_URL)",
    ],
    [
      "AUTHENTICATION_EXPIRED",
      authOf({ NATS_CREDS: file("e.creds", creds) }),
      "authentication expired (renew NATS_CREDS)",
    ],
  ])("says what to check for %s", (code, auth, reason) => {
    expect(natsRefusal(error(code), auth)).toBe(reason);
  });

  it("names an untrusted certificate and a failed handshake, and waits on failures that may pass", () => {
    expect(natsRefusal(error("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"))).toBe(
      "the server's TLS certificate is not trusted: self-signed certificate (give the CA that signed it in NATS_TLS_CA_FILE)",
    );
    expect(natsRefusal(error("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"))).toMatch(/^the TLS handshake failed/);
    expect(natsRefusal(error("ERR_TLS_CERT_ALTNAME_INVALID", "Hostname/IP does not match"))).toBe(
      "the server's TLS certificate is not for this address: Hostname/IP does not match (use a name or address in NATS_URL that it lists)",
    );
    expect(natsRefusal(error("SERVER_OPT_NA", "tls"))).toBe(
      "TLS is required (a tls:// server in NATS_URL, or a NATS_TLS_* file) but the server does not offer it",
    );
    expect(natsRefusal(error("SERVER_OPT_NA", "noEcho"))).toBeUndefined();
    for (const code of ["CONNECTION_REFUSED", "ECONNREFUSED", "TIMEOUT", "ENOTFOUND"]) {
      expect(natsRefusal(error(code))).toBeUndefined();
    }
    expect(natsRefusal(new Error("no code"))).toBeUndefined();
  });

  it("names where credentials come from, never what they are", () => {
    expect(credentialsSource(undefined)).toBe("none were given");
    expect(credentialsSource(user)).toBe("NATS_USER and NATS_PASSWORD");
    expect(credentialsSource(authOf({ NATS_NKEY_SEED_FILE: file("s.nk", seed) }))).toBe("NATS_NKEY_SEED_FILE");
  });
});
