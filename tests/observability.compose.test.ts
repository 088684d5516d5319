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
import { runPromtool } from "./support/prometheus.ts";

// No Docker engine on the test machines: compose.yaml is checked here against the servers the tests run and
// the files it mounts, not started.
const repoRoot = path.resolve(import.meta.dirname, "..");
const observabilityDir = path.join(repoRoot, "observability", "prometheus");

interface ComposeService {
  image?: string;
  environment?: Record<string, string>;
  configs?: Array<{ source: string; target: string }>;
}
interface Compose {
  services: Record<string, ComposeService>;
  configs: Record<string, { content?: string; file?: string }>;
}

const compose = parse(readFileSync(path.join(repoRoot, "compose.yaml"), "utf8"), { merge: true }) as Compose;

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
      const binary = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";
      const { stderr } = await promisify(execFile)(binary, ["-t", "-c", file]);
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

  it("runs the Prometheus release the rules are tested with, scraping the gateway's and consumer's ports", async () => {
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
    expect(check.stdout).toContain("SUCCESS: 11 rules found");

    const config = parse(readFileSync(path.join(observabilityDir, "prometheus.yml"), "utf8")) as {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = Object.fromEntries(
      config.scrape_configs.map((job) => [job.job_name, job.static_configs.flatMap((s) => s.targets)]),
    );
    expect(targets).toEqual({
      "evpipe-gateway": [`gateway:${service("gateway").environment?.PORT}`],
      "evpipe-consumer": [`consumer:${service("consumer").environment?.HEALTH_PORT}`],
    });
  });

  it("gives ops the database and NATS the services use", () => {
    const ops = service("ops").environment ?? {};
    const consumer = service("consumer").environment ?? {};
    expect(ops.DATABASE_URL).toBe(consumer.DATABASE_URL);
    expect(ops.NATS_URL).toBe(consumer.NATS_URL);
    expect(ops.DATABASE_URL).toMatch(/^postgres:\/\/postgres:.*@postgres:5432\/events$/);
  });
});
