import { execFile } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { DemoSummary } from "../services/ops/src/demo/generate.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices({ key: { scopes: ["read"] } });

/** What `pnpm demo --json` prints: its summary of what it sent, and the key it used. */
interface DemoReport extends DemoSummary {
  key: string;
  keyId: string | null;
}

function runDemo(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const main = path.resolve(import.meta.dirname, "..", "services", "ops", "src", "demo", "main.ts");
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [main, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const byName = (rows: Array<{ event: string }>) => [...rows].sort((a, b) => (a.event < b.event ? -1 : 1));

describe("pnpm demo", () => {
  it("loads days of events through the gateway, with a key of its own, and the stats API shows what it sent", async () => {
    const { pipeline, gateway } = services;
    const env = { NATS_URL: pipeline.natsUrl, NATS_NAMESPACE: pipeline.namespace };
    const result = await runDemo(
      ["--days", "3", "--users", "40", "--events", "600", "--url", gateway.url, "--json"],
      env,
    );
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as DemoReport;
    expect(report.keyId).toMatch(/\S/);
    expect(report.dau).toHaveLength(3);
    expect(report.dau.at(-1)?.day).toBe(new Date().toISOString().slice(0, 10));
    expect(report.events).toBeGreaterThan(300);
    expect(report.topEvents.length).toBeGreaterThanOrEqual(10);
    expect(report.dau.every((day) => day.users > 0)).toBe(true);

    const read = async (route: string) => {
      const res = await fetch(`${gateway.url}/v1/stats/${route}from=${report.from}&to=${report.to}`, {
        headers: { "x-api-key": services.key },
      });
      return (await res.json()) as { days?: DemoReport["dau"]; events?: DemoReport["topEvents"] };
    };
    // Poll until everything sent is stored (the consumer is asynchronous), then compare exactly.
    const total = await waitFor("every event the demo sent to be counted", async () => {
      const top = await read("top-events?limit=100&");
      const counted = (top.events ?? []).reduce((sum, row) => sum + row.count, 0);
      return counted === report.events ? top : undefined;
    });
    expect(byName(total.events ?? [])).toEqual(byName(report.topEvents));
    expect((await read("dau?")).days).toEqual(report.dau);

    // The key it printed works for reading too.
    const withDemoKey = await fetch(`${gateway.url}/v1/stats/dau?from=${report.from}&to=${report.to}`, {
      headers: { "x-api-key": report.key },
    });
    expect(withDemoKey.status).toBe(200);
  });

  it("says in one line when the gateway cannot be reached", async () => {
    const { pipeline } = services;
    const result = await runDemo(["--days", "1", "--users", "2", "--events", "5", "--url", "http://127.0.0.1:1"], {
      NATS_URL: pipeline.natsUrl,
      NATS_NAMESPACE: pipeline.namespace,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^demo: cannot reach the gateway at http:\/\/127\.0\.0\.1:1: .+\n$/);
  });
});
