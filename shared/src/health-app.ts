import { Hono } from "hono";
import type { Registry } from "prom-client";
import { metricsExposition } from "./metrics.ts";

/** What `/readyz` says: 200 when ready, 503 otherwise, with the service's own account of its state. */
export interface Readiness {
  ready: boolean;
  body: Record<string, unknown>;
}

/**
 * The health endpoints every service without an API of its own serves on HEALTH_PORT (the consumer, the
 * forwarder): liveness, readiness as the service judges it, and, unless metrics are off, `/metrics`.
 */
export function createHealthApp(readiness: () => Readiness, metrics?: Registry) {
  const app = new Hono()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .get("/readyz", (c) => {
      const { ready, body } = readiness();
      return c.json({ status: ready ? "ready" : "not_ready", ...body }, ready ? 200 : 503);
    });
  if (!metrics) return app;
  return app.get("/metrics", async (c) => {
    const { body, contentType } = await metricsExposition(metrics);
    return c.body(body, 200, { "Content-Type": contentType });
  });
}
