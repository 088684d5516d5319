import { Hono } from "hono";
import type { ConsumerStatus } from "./consumer.ts";

/** Liveness and readiness: ready only while consuming; paused (outage) and stopped (bug) say why. */
export function createHealthApp(status: () => ConsumerStatus, natsConnected: () => boolean) {
  return new Hono()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .get("/readyz", (c) => {
      const current = status();
      const ready = current.ready && natsConnected();
      return c.json(
        { status: ready ? "ready" : "not_ready", state: current.state, nats: natsConnected(), reason: current.reason },
        ready ? 200 : 503,
      );
    });
}
