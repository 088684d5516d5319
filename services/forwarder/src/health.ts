import { metricsExposition } from "@evpipe/shared";
import { Hono } from "hono";
import type { Registry } from "prom-client";
import type { DestinationState } from "./forwarder.ts";

export interface ForwarderStatus {
  ready: boolean;
  destinations: Record<string, DestinationState>;
}

/**
 * Liveness, readiness and, unless metrics are off, `/metrics`. Ready once the configured destinations were
 * started and NATS is connected; a destination that could not start (its secret does not open) is named in the
 * answer but does not make the forwarder unready: the others are delivering.
 */
export function createHealthApp(status: () => ForwarderStatus, natsConnected: () => boolean, metrics?: Registry) {
  const app = new Hono()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .get("/readyz", (c) => {
      const current = status();
      const ready = current.ready && natsConnected();
      return c.json(
        {
          status: ready ? "ready" : "not_ready",
          nats: natsConnected(),
          destinations: current.destinations,
        },
        ready ? 200 : 503,
      );
    });
  if (!metrics) return app;
  return app.get("/metrics", async (c) => {
    const { body, contentType } = await metricsExposition(metrics);
    return c.body(body, 200, { "Content-Type": contentType });
  });
}
