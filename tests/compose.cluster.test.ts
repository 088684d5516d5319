import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { connect, StorageType } from "nats";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { freePort } from "./support/free-port.ts";
import { natsServerBinary } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

// No Docker engine here: compose.cluster.yaml is checked by running what can run without one. Its NATS
// configuration is started as three real nats-server processes (host names mapped to loopback ports) that must
// form a JetStream cluster; its HAProxy configuration is checked by haproxy itself.
const repoRoot = path.resolve(import.meta.dirname, "..");

interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  configs?: Array<{ source: string; target: string }>;
  profiles?: string[];
}
interface Compose {
  services: Record<string, ComposeService>;
  configs: Record<string, { content?: string }>;
}

const read = (file: string) => parse(readFileSync(path.join(repoRoot, file), "utf8"), { merge: true }) as Compose;
const cluster = read("compose.cluster.yaml");
const single = read("compose.yaml");
const nodeNames = ["nats-1", "nats-2", "nats-3"];
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function service(name: string): ComposeService {
  const found = cluster.services[name];
  if (!found) throw new Error(`compose.cluster.yaml has no service ${name}`);
  return found;
}

describe("compose.cluster.yaml", () => {
  it("runs three NATS nodes of the version compose.yaml pins, and every service knows all three with R3", () => {
    for (const name of nodeNames) expect(service(name).image).toBe(single.services.nats?.image);
    const apps = ["gateway-1", "gateway-2", "consumer-1", "consumer-2", "forwarder", "ops"];
    for (const name of apps) {
      const env = service(name).environment ?? {};
      expect(env.NATS_URL?.split(","), name).toEqual(nodeNames.map((node) => `nats://${node}:4222`));
      expect(env.NATS_REPLICAS, name).toBe("3");
    }
    expect(service("gateway-1").command).toEqual(["node", "services/gateway/src/main.ts"]);
    expect(service("consumer-2").command).toEqual(["node", "services/consumer/src/main.ts"]);
    expect(service("consumer-1").environment?.DATABASE_URL).toMatch(/^postgres:\/\/.*@postgres:5432\/events$/);
  });

  it("has a NATS configuration whose three nodes form a JetStream cluster that keeps an R3 stream", async () => {
    const content = cluster.configs["nats-cluster"]?.content ?? "";
    const ports = await Promise.all(nodeNames.map(async () => ({ client: await freePort(), route: await freePort() })));
    let local = content;
    nodeNames.forEach((name, index) => {
      local = local.replace(`nats-route://${name}:6222`, `nats-route://127.0.0.1:${ports[index]?.route}`);
    });
    nodeNames.forEach((name, index) => {
      const port = ports[index] as { client: number; route: number };
      const dir = mkdtempSync(path.join(tmpdir(), "evp-compose-cluster-"));
      dirs.push(dir);
      const config = local
        .replace("port: 4222", `port: ${port.client}`)
        .replace(/http_port: \d+\n/, "")
        .replace('store_dir: "/data"', `store_dir: "${dir}"`)
        .replace("listen: 0.0.0.0:6222", `listen: 127.0.0.1:${port.route}`);
      expect(config, "every placeholder was mapped").not.toMatch(/nats-\d:|\/data"|0\.0\.0\.0/);
      writeFileSync(path.join(dir, "nats.conf"), config);
      const command = service(name).command ?? [];
      // The compose command's own flags (the node's name) after its --config.
      const args = ["--config", path.join(dir, "nats.conf"), ...command.slice(3)];
      children.push(spawn(natsServerBinary(), args, { stdio: "ignore" }));
    });

    const nc = await waitFor(
      "the three nodes to elect a JetStream meta leader",
      async () => {
        const candidate = await connect({ servers: ports.map((port) => `127.0.0.1:${port.client}`) });
        const ok = await candidate
          .jetstreamManager({ timeout: 1000 })
          .then((jsm) => jsm.getAccountInfo())
          .then(
            () => true,
            () => false,
          );
        if (ok) return candidate;
        await candidate.close();
        return false;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    try {
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.add({
        name: "R3CHECK",
        subjects: ["r3check"],
        storage: StorageType.File,
        num_replicas: 3,
      });
      expect(info.config.num_replicas).toBe(3);
      const names = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((peer) => peer.name)].sort();
      expect(names).toEqual([...nodeNames].sort());
    } finally {
      await nc.close();
    }
  }, 60_000);

  it("balances over both gateways with a configuration haproxy accepts", async () => {
    const content = cluster.configs.haproxy?.content ?? "";
    expect(content).toMatch(/server gateway-1 gateway-1:8080 check/);
    expect(content).toMatch(/server gateway-2 gateway-2:8080 check/);
    expect(content).toMatch(/option httpchk GET \/readyz/);
    const dir = mkdtempSync(path.join(tmpdir(), "evp-compose-haproxy-"));
    dirs.push(dir);
    const file = path.join(dir, "haproxy.cfg");
    // The gateways' names resolve only inside compose; `init-addr none` lets the check run without them.
    writeFileSync(file, content.replace("defaults\n", "defaults\n  default-server init-addr last,libc,none\n"));
    const { stdout, stderr } = await promisify(execFile)("haproxy", ["-c", "-f", file]);
    expect(`${stdout}${stderr}`).toMatch(/Configuration file is valid/);
  });
});
