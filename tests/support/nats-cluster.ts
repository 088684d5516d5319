import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect } from "nats";
import { freePort } from "./free-port.ts";
import { natsServerBinary } from "./processes.ts";
import { waitFor } from "./wait-for.ts";

export interface ClusterNode {
  readonly name: string;
  readonly url: string;
  readonly running: boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Sends `signal` to the running process and returns at once, without waiting for it to exit: for signals
   * that never end it, such as SIGSTOP and SIGCONT. Throws if the node is not running.
   */
  signal(signal: NodeJS.Signals): void;
  /** Starts it again on the same ports with the same store. */
  restart(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: readonly ClusterNode[];
  /** Every node's client URL, comma-separated: what NATS_URL takes. */
  readonly seeds: string;
  node(name: string): ClusterNode;
  /** Waits until JetStream has a meta leader again and every node is a current peer. */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * Three (or `size`) nats-server processes of the machine's binary, clustered over loopback routes with
 * JetStream, each with its own store directory: a RAFT cluster like a production one, on one machine.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const clusterName = `evp-${process.pid}-${Date.now().toString(36)}`;
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort() })),
  );
  const routes = ports.map((port) => `nats-route://127.0.0.1:${port.route}`).join(",");
  const nodes: NodeWithStore[] = [];
  const cleanup = async () => {
    await Promise.all(nodes.map((node) => node.kill("SIGKILL")));
    for (const node of nodes) node.removeStore();
  };
  try {
    for (const [index, port] of ports.entries()) {
      nodes.push(clusterNode(`n${index + 1}-${clusterName}`, port, clusterName, routes));
    }
    // Every start settles (each has its own deadline) before a failed one cleans up the others.
    const started = await Promise.allSettled(nodes.map((node) => node.restart()));
    const failed = started.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    await waitForMetaLeader(nodes, 30_000);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    nodes,
    seeds: nodes.map((node) => node.url).join(","),
    node: (name) => {
      const found = nodes.find((node) => node.name === name);
      if (!found) throw new Error(`no node ${name} in ${nodes.map((node) => node.name).join(", ")}`);
      return found;
    },
    waitForJetStream: (timeoutMs = 30_000) => waitForMetaLeader(nodes, timeoutMs),
    cleanup,
  };
}

type NodeWithStore = ClusterNode & { removeStore(): void };

function clusterNode(
  name: string,
  ports: { client: number; route: number },
  clusterName: string,
  routes: string,
): NodeWithStore {
  const storeDir = mkdtempSync(path.join(tmpdir(), "evp-nats-cluster-"));
  let child: ChildProcess | undefined;
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const args = [
    ["-a", "127.0.0.1", "-p", String(ports.client), "-n", name, "-js", "-sd", storeDir],
    ["--cluster_name", clusterName, "--cluster", `nats://127.0.0.1:${ports.route}`, "--routes", routes],
  ].flat();
  return {
    name,
    url: `nats://127.0.0.1:${ports.client}`,
    get running() {
      return running();
    },
    async kill(signal: NodeJS.Signals = "SIGKILL") {
      const proc = child;
      if (!proc || !running()) return;
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      proc.kill(signal);
      await exited;
    },
    signal(signal: NodeJS.Signals) {
      if (!child || !running()) throw new Error(`nats-server ${name} is not running: cannot send ${signal}`);
      child.kill(signal);
    },
    async restart() {
      if (running()) return;
      const proc = spawn(natsServerBinary(), args, { stdio: ["ignore", "ignore", "pipe"] });
      child = proc;
      let output = "";
      let spawnError: Error | undefined;
      // Without a listener, a binary that cannot be run (ENOENT) would crash the test process.
      proc.once("error", (err) => {
        spawnError = err;
      });
      proc.stderr?.on("data", (chunk: Buffer) => {
        // Only the start-up lines are needed; a long run must not keep every log line.
        if (output.length < 64 * 1024) output += chunk.toString();
      });
      await waitFor(
        `nats-server ${name} to start`,
        () => {
          if (spawnError) throw new Error(`nats-server ${name} did not start: ${spawnError.message}`);
          if (proc.exitCode !== null || proc.signalCode !== null) {
            throw new Error(`nats-server ${name} exited (${proc.exitCode ?? proc.signalCode}): ${output}`);
          }
          return /Server is ready/.test(output);
        },
        { timeoutMs: 15_000 },
      );
    },
    removeStore: () => rmSync(storeDir, { recursive: true, force: true }),
  };
}

async function waitForMetaLeader(nodes: readonly ClusterNode[], timeoutMs: number): Promise<void> {
  const running = nodes.filter((node) => node.running);
  await waitFor(
    "the NATS cluster to elect a JetStream meta leader",
    async () => {
      const nc = await connect({ servers: running.map((node) => node.url), timeout: 2000 }).catch(() => undefined);
      if (!nc) return false;
      try {
        // Account info is answered only once the meta group has a leader.
        const jsm = await nc.jetstreamManager({ timeout: 2000 });
        await jsm.getAccountInfo();
        return true;
      } catch {
        return false;
      } finally {
        await nc.close();
      }
    },
    { timeoutMs },
  );
}
