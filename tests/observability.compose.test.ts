import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { createDb } from "@evpipe/db";
import { sql } from "kysely";
import { connect } from "nats";
import { describe, expect, inject, it } from "vitest";
import { parse } from "yaml";
import { natsServerBinary } from "./support/processes.ts";
import { runPromtool } from "./support/prometheus.ts";

// No Docker engine on the test machines: compose.yaml is checked here against the servers the tests run and
// the files it mounts, not started.
const repoRoot = path.resolve(import.meta.dirname, "..");
const observabilityDir = path.join(repoRoot, "observability", "prometheus");

interface ComposeService {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  configs?: Array<{ source: string; target: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  restart?: string;
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, ComposeService>;
  configs: Record<string, { content?: string; file?: string }>;
}

const composeText = readFileSync(path.join(repoRoot, "compose.yaml"), "utf8");
const compose = parse(composeText, { merge: true }) as Compose;

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (!found) throw new Error(`compose.yaml has no service ${name}`);
  return found;
}

function imageTag(name: string): string {
  const image = service(name).image ?? "";
  return image.slice(image.lastIndexOf(":") + 1);
}

describe("compose.yaml", () => {
  it("runs the NATS version the tests run, with a configuration that version accepts", async () => {
    const nc = await connect({ servers: inject("natsUrl") });
    const version = nc.info?.version;
    await nc.close();
    expect(imageTag("nats")).toBe(`${version}-alpine`);

    const content = compose.configs["nats-server"]?.content ?? "";
    const dir = mkdtempSync(path.join(tmpdir(), "evp-compose-"));
    try {
      const file = path.join(dir, "nats.conf");
      writeFileSync(file, content);
      const { stderr } = await promisify(execFile)(natsServerBinary(), ["-t", "-c", file]);
      expect(stderr).toContain("is valid");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs the PostgreSQL major version the tests run", async () => {
    const db = createDb({ url: inject("databaseUrl"), maxConnections: 1, applicationName: "evpipe-tests" });
    try {
      const { rows } = await sql<{ server_version_num: string }>`SHOW server_version_num`.execute(db);
      expect(imageTag("postgres")).toBe(String(Math.floor(Number(rows[0]?.server_version_num) / 10_000)));
    } finally {
      await db.destroy();
    }
  });

  it("runs the Prometheus release the rules are tested with, scraping the gateway's, consumer's and forwarder's ports", async () => {
    const { stdout } = await promisify(execFile)("prometheus", ["--version"]);
    const [, majorMinor] = /version (\d+\.\d+)\./.exec(stdout) ?? [];
    expect(imageTag("prometheus")).toMatch(new RegExp(`^v${majorMinor?.replace(".", "\\.")}\\.\\d+$`));

    const prometheus = service("prometheus");
    const mounted = Object.fromEntries(
      (prometheus.configs ?? []).map(({ source, target }) => [target, compose.configs[source]?.file]),
    );
    expect(mounted).toEqual({
      "/etc/prometheus/prometheus.yml": "./observability/prometheus/prometheus.yml",
      "/etc/prometheus/alerts.yml": "./observability/prometheus/alerts.yml",
    });
    const check = await runPromtool(["check", "config", path.join(observabilityDir, "prometheus.yml")]);
    expect(check.code, `${check.stdout}${check.stderr}`).toBe(0);
    expect(check.stdout).toContain("SUCCESS: 15 rules found");

    const config = parse(readFileSync(path.join(observabilityDir, "prometheus.yml"), "utf8")) as {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = Object.fromEntries(
      config.scrape_configs.map((job) => [job.job_name, job.static_configs.flatMap((s) => s.targets)]),
    );
    expect(targets).toEqual({
      "evpipe-gateway": [`gateway:${service("gateway").environment?.PORT}`],
      "evpipe-consumer": [`consumer:${service("consumer").environment?.HEALTH_PORT}`],
      "evpipe-forwarder": [`forwarder:${service("forwarder").environment?.HEALTH_PORT}`],
    });
  });

  it("gives ops the database and NATS the services use", () => {
    const ops = service("ops").environment ?? {};
    const consumer = service("consumer").environment ?? {};
    expect(ops.DATABASE_URL).toBe(consumer.DATABASE_URL);
    expect(ops.NATS_URL).toBe(consumer.NATS_URL);
    expect(ops.DATABASE_URL).toMatch(/^postgres:\/\/postgres:.*@postgres:5432\/events$/);
  });

  it("gives ops and the forwarder the same NATS and DESTINATION_SECRETS_KEY, and starts without the key", () => {
    const ops = service("ops").environment ?? {};
    const forwarder = service("forwarder").environment ?? {};
    expect(forwarder.NATS_URL).toBe(service("consumer").environment?.NATS_URL);
    expect(ops.NATS_URL).toBe(forwarder.NATS_URL);
    // From the shell or .env, empty when unset: the forwarder refuses to start naming it, the rest runs.
    expect(forwarder.DESTINATION_SECRETS_KEY).toBe(`\${DESTINATION_SECRETS_KEY:-}`);
    expect(ops.DESTINATION_SECRETS_KEY).toBe(forwarder.DESTINATION_SECRETS_KEY);
    // `:?` (or `?`) makes an unset variable an error for every compose command, not just for one service.
    expect(composeText).not.toMatch(/\$\{\w+:?\?/);
    for (const name of ["gateway", "consumer", "migrate", "prometheus"]) {
      expect(service(name).environment?.DESTINATION_SECRETS_KEY, name).toBeUndefined();
    }
  });

  it("runs the forwarder as it runs the consumer: on NATS alone, probed, restarted, stopped gracefully", () => {
    const forwarder = service("forwarder");
    expect(forwarder.command).toEqual(["node", "services/forwarder/src/main.ts"]);
    expect(forwarder.depends_on).toEqual({ nats: { condition: "service_healthy" } });
    expect(forwarder.restart).toBe("unless-stopped");
  });

  it("builds an image that installs the dependencies of every service compose runs from it", () => {
    const dockerfile = readFileSync(path.join(repoRoot, "Dockerfile"), "utf8");
    const dirs = Object.values(compose.services)
      .flatMap(({ command = [], entrypoint = [] }) => [...command, ...entrypoint])
      .flatMap((arg) => /^(services\/[\w-]+)\/src\//.exec(arg)?.[1] ?? []);
    expect(dirs).toContain("services/forwarder");
    for (const dir of new Set(dirs)) {
      const { name } = JSON.parse(readFileSync(path.join(repoRoot, dir, "package.json"), "utf8")) as { name: string };
      // Without both, the image has the service's sources but not its node_modules: it exits at its first import.
      expect(dockerfile, dir).toContain(`COPY ${dir}/package.json ${dir}/`);
      expect(dockerfile, dir).toContain(`--filter "${name}..."`);
    }
  });

  it.each(["gateway", "consumer", "forwarder"])("probes %s's /readyz on its port and outlasts its shutdown", (name) => {
    const { environment = {}, healthcheck, stop_grace_period } = service(name);
    const port = environment.HEALTH_PORT ?? environment.PORT;
    expect(healthcheck?.test.join(" ")).toContain(`http://127.0.0.1:${port}/readyz`);
    const graceMs = Number(/^(\d+)s$/.exec(stop_grace_period ?? "")?.[1]) * 1000;
    expect(graceMs, `stop_grace_period ${stop_grace_period}`).toBeGreaterThan(Number(environment.SHUTDOWN_TIMEOUT_MS));
  });
});
