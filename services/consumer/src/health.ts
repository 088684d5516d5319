import { metricsExposition } from "@evpipe/shared";
import { Hono } from "hono";
import type { Registry } from "prom-client";
import type { ConsumerStatus } from "./consumer.ts";

/**
 * Liveness, readiness and, unless metrics are off, `/metrics`: ready only while consuming; paused (outage)
 * and stopped (bug) say why.
 */
export function createHealthApp(status: () => ConsumerStatus, natsConnected: () => boolean, metrics?: Registry) {
  const app = new Hono()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .get("/readyz", (c) => {
      const current = status();
      const ready = current.ready && natsConnected();
      return c.json(
        { status: ready ? "ready" : "not_ready", state: current.state, nats: natsConnected(), reason: current.reason },
        ready ? 200 : 503,
      );
    });
  if (!metrics) return app;
  return app.get("/metrics", async (c) => {
    const { body, contentType } = await metricsExposition(metrics);
    return c.body(body, 200, { "Content-Type": contentType });
  });
}
