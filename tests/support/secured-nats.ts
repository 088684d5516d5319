import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type NatsRole, natsPasswordVariable, natsRoles, natsUserName } from "@evpipe/shared";
import { freePort } from "./free-port.ts";
import { natsServerBinary, runOps } from "./processes.ts";
import { waitFor } from "./wait-for.ts";

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
  /** The directory of its store, config and certificates. */
  dir: string;
  /** NATS_USER and NATS_PASSWORD of a role, as that service is given them. */
  credentials(role: NatsRole): { NATS_USER: string; NATS_PASSWORD: string };
  cleanup(): Promise<void>;
}

/**
 * A private nats-server with JetStream whose users and permissions are exactly what `pnpm ops nats-config`
 * prints for `namespace`, each role with a random password given to the server in its environment; with
 * `tls`, it requires TLS with a certificate signed by a CA of its own.
 */
export async function startSecuredNats(namespace: string, options: { tls?: boolean } = {}): Promise<SecuredNats> {
  const dir = mkdtempSync(path.join(tmpdir(), "evp-nats-secured-"));
  const generated = await runOps(["nats-config"], { NATS_NAMESPACE: namespace });
  if (generated.code !== 0) throw new Error(`ops nats-config exited ${generated.code}: ${generated.stderr}`);
  const passwords = Object.fromEntries(natsRoles.map((role) => [role, randomBytes(12).toString("hex")])) as Record<
    NatsRole,
    string
  >;
  const port = await freePort();
  const certificates = options.tls ? makeCertificates(dir) : undefined;
  const tlsBlock = certificates
    ? `tls {\n  cert_file: ${JSON.stringify(certificates.certFile)}\n  key_file: ${JSON.stringify(certificates.keyFile)}\n}\n`
    : "";
  const config = `listen: 127.0.0.1:${port}\njetstream { store_dir: ${JSON.stringify(path.join(dir, "store"))} }\n${tlsBlock}${generated.stdout}`;
  writeFileSync(path.join(dir, "nats-server.conf"), config);
  const serverEnv = Object.fromEntries(
    natsRoles.map((role) => [natsPasswordVariable(role, namespace), passwords[role]]),
  );
  const child: ChildProcess = spawn(natsServerBinary(), ["-c", path.join(dir, "nats-server.conf")], {
    env: { ...process.env, ...serverEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(
    "the secured nats-server to start",
    () => {
      if (child.exitCode !== null) throw new Error(`nats-server exited: ${output}`);
      return /Server is ready/.test(output);
    },
    { timeoutMs: 10_000 },
  );
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    credentials: (role) => ({ NATS_USER: natsUserName(role, namespace), NATS_PASSWORD: passwords[role] }),
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
