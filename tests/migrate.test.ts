import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { createDb, dropDatabase } from "@evpipe/db";
import { sql } from "kysely";
import { afterAll, describe, expect, inject, it } from "vitest";
import { uniqueId } from "./support/pipeline.ts";

const repoRoot = path.resolve(import.meta.dirname, "..");
const migrationNames = readdirSync(path.join(repoRoot, "db", "migrations"))
  .filter((file) => file.endsWith(".ts"))
  .map((file) => file.replace(/\.ts$/, ""))
  .sort();

function run(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(repoRoot, script)],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A port nothing listens on: bound, read, released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const created: string[] = [];
afterAll(async () => {
  for (const url of created) await dropDatabase(url);
});

describe("pnpm migrate", () => {
  it("creates a database that does not exist yet and applies every migration, then has nothing to do", async () => {
    const url = new URL(inject("databaseUrl"));
    url.pathname = `/evp_${uniqueId("mig")}`;
    created.push(url.toString());

    const first = await run("db/src/migrate-main.ts", { DATABASE_URL: url.toString(), LOG_LEVEL: "info" });
    expect(first.code, first.stderr).toBe(0);
    const line = JSON.parse(first.stdout.trim()) as Record<string, unknown>;
    expect(line, first.stdout).toMatchObject({ msg: "database is up to date", createdDatabase: true });
    expect(line.applied).toEqual(migrationNames);

    const db = createDb({ url: url.toString(), maxConnections: 1, applicationName: "evpipe-tests" });
    try {
      const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
      expect(rows.map((row) => row.name)).toEqual(migrationNames);
      const events = await sql<{ n: string }>`SELECT count(*) AS n FROM events`.execute(db);
      expect(events.rows[0]?.n).toBe("0");
    } finally {
      await db.destroy();
    }

    const again = await run("db/src/migrate-main.ts", { DATABASE_URL: url.toString(), LOG_LEVEL: "info" });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout.trim())).toMatchObject({ createdDatabase: false, applied: [] });
  });

  it.each([
    ["migrate", "db/src/migrate-main.ts"],
    ["start", "services/launcher/src/main.ts"],
  ])(
    "%s with PostgreSQL unreachable says so in one line, without the password or a stack, and exits 1",
    async (_, script) => {
      const port = await closedPort();
      const result = await run(script, { DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${port}/events` });
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toBe(
        `migrate: cannot reach PostgreSQL at postgres://postgres@127.0.0.1:${port}/events: connect ECONNREFUSED 127.0.0.1:${port}\n`,
      );
      expect(result.stdout).toBe("");
    },
  );

  it("names a login PostgreSQL refuses, with its SQLSTATE", async () => {
    const url = new URL(inject("databaseUrl"));
    url.username = "no_such_role";
    url.pathname = "/events";
    const result = await run("db/src/migrate-main.ts", { DATABASE_URL: url.toString() });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(
      /^migrate: PostgreSQL at postgres:\/\/no_such_role@.+ refused: .+ \(SQLSTATE 28\w{3}\)\n$/,
    );
    expect(result.stderr).not.toContain("    at ");
  });
});
