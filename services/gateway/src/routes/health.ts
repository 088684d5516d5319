import { Hono } from "hono";
import type { GatewayEnv } from "../context.ts";

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

export function healthRoutes(readiness: () => Promise<Readiness>) {
  return new Hono<GatewayEnv>()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .get("/readyz", async (c) => {
      const report = await readiness();
      return c.json({ status: report.ready ? "ready" : "not_ready", checks: report.checks }, report.ready ? 200 : 503);
    });
}
