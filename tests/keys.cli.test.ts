import { errorEnvelope } from "@evpipe/gateway/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postJson } from "./support/http.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { type RunningService, runOps, startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

let pipeline: TestPipeline;
let gateway: RunningService;
const env = () => ({ NATS_URL: pipeline.natsUrl, NATS_NAMESPACE: pipeline.namespace });

beforeAll(async () => {
  pipeline = await createTestPipeline();
  // The gateway never needs PostgreSQL: point it at a port where nothing listens.
  gateway = await startService(
    "gateway",
    pipeline.serviceEnv({ DATABASE_URL: "postgres://postgres@127.0.0.1:1/none", KEY_USAGE_FLUSH_MS: "200" }),
  );
});

afterAll(async () => {
  await gateway?.stop();
  await pipeline?.cleanup();
});

describe("pnpm ops keys", () => {
  it("creates a key that works at once, lists it without secrets, and revokes it within seconds", async () => {
    const created = await runOps(["keys", "create", "--name", "shop", "--scopes", "ingest,read", "--json"], env());
    expect(created.code, created.stderr).toBe(0);
    const { id, key, scopes } = JSON.parse(created.stdout) as { id: string; key: string; scopes: string[] };
    expect(scopes).toEqual(["ingest", "read"]);
    expect(key).toMatch(/^evp_/);

    const accepted = await waitFor("the new key to be accepted", async () => {
      const res = await postJson(gateway.url, "/v1/events", { event: "e", user_id: "u" }, { "x-api-key": key });
      return res.status === 202 ? res : undefined;
    });
    expect(accepted.status).toBe(202);

    // last_used_at reaches the usage bucket within one flush interval (200 ms here).
    const listed = await waitFor("the key's last use to be recorded", async () => {
      const result = await runOps(["keys", "list", "--json"], env());
      return result.stdout.includes('"last_used_at":"') ? result : undefined;
    });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain(key.slice(17));
    const rows = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    expect(rows).toEqual([
      {
        id,
        name: "shop",
        scopes: ["ingest", "read"],
        created_at: expect.any(String),
        last_used_at: expect.any(String),
      },
    ]);

    const table = await runOps(["keys", "list"], env());
    expect(table.stdout).toMatch(
      new RegExp(`${id}\\s+shop\\s+ingest,read\\s+1000/s burst 2000\\s+\\S+\\s+\\S+\\s+active`),
    );

    const revoked = await runOps(["keys", "revoke", id], env());
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`Revoked key ${id}`);
    const rejected = await waitFor(
      "the revoked key to be refused",
      async () => {
        const res = await postJson(gateway.url, "/v1/events", { event: "e", user_id: "u" }, { "x-api-key": key });
        return res.status === 401 ? res : undefined;
      },
      { timeoutMs: 5000 },
    );
    expect(rejected.status).toBe(401);
  });

  it("keeps accepting after a gateway restart while PostgreSQL is unreachable", async () => {
    const created = await runOps(["keys", "create", "--name", "restart", "--scopes", "ingest", "--json"], env());
    const { key } = JSON.parse(created.stdout) as { key: string };
    await gateway.stop();
    gateway = await startService(
      "gateway",
      pipeline.serviceEnv({ DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" }),
    );
    const res = await postJson(gateway.url, "/v1/events", { event: "e", user_id: "u" }, { "x-api-key": key });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
  });

  it("answers the read routes with 503 UNAVAILABLE while PostgreSQL is unreachable, and still accepts events", async () => {
    const { key } = await pipeline.createKey(["ingest", "read"]);
    // The new key reaches the gateway through its bucket watch: wait until it is known.
    const res = await waitFor("the key to be known", async () => {
      const attempt = await fetch(`${gateway.url}/v1/stats/dau?from=2026-11-01&to=2026-11-02`, {
        headers: { "x-api-key": key },
      });
      return attempt.status === 401 ? undefined : attempt;
    });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(body).toEqual(errorEnvelope(res.headers, "UNAVAILABLE", "The event store is unavailable; retry shortly."));
    const accepted = await postJson(gateway.url, "/v1/events", { event: "e", user_id: "u" }, { "x-api-key": key });
    expect(accepted.status).toBe(202);
  });

  it.each([
    [["keys", "create", "--name", "x", "--scopes", "ingest,write"], 2, "unknown scope(s) write"],
    [["keys", "create", "--scopes", "ingest"], 2, "--name is required"],
    [["keys", "create", "--name", "x"], 2, "--scopes is required"],
    [["keys", "create", "--name", "x", "--scopes", "ingest", "--rate", "fast"], 2, "--rate must be a whole number"],
    [["keys", "create", "--name", "x", "--scopes", "ingest", "--colour", "red"], 2, "Unknown option '--colour'"],
    [["keys", "revoke"], 2, "usage: pnpm ops keys revoke ID"],
    [["keys", "revoke", "nosuchkey123"], 1, "no key with id nosuchkey123"],
    [["frobnicate"], 2, "usage:"],
  ])("refuses %j with exit %i and a one-line reason", async (args, code, message) => {
    const result = await runOps(args, env());
    expect(result.code).toBe(code);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("says clearly that NATS is unreachable, without a stack trace", async () => {
    const result = await runOps(["keys", "list"], {
      NATS_URL: "nats://127.0.0.1:1",
      NATS_NAMESPACE: pipeline.namespace,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("cannot reach NATS at nats://127.0.0.1:1");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
