import { createMetricsRegistry, metricsExposition, secondsSince } from "@evpipe/shared";
import { type Context, Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { GatewayEnv } from "./context.ts";
import type { EventPublisher } from "./publisher.ts";

/** The gateway's Prometheus metrics (PRODUCT.md §9); names are agreed with the alert rules, never renamed. */
export interface GatewayMetrics {
  registry: Registry;
  httpRequests: Counter<"route" | "method" | "status">;
  httpRequestDuration: Histogram<"route" | "method">;
  eventsAccepted: Counter;
  publishDuration: Histogram;
  publishesInFlight: Gauge;
  publishFailures: Counter;
}

export function createGatewayMetrics(registry: Registry = createMetricsRegistry()): GatewayMetrics {
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: "evpipe_http_requests_total",
      help: "HTTP requests answered, by matched route pattern (or unmatched), method and status.",
      labelNames: ["route", "method", "status"],
      registers,
    }),
    httpRequestDuration: new Histogram({
      name: "evpipe_http_request_duration_seconds",
      help: "Time from a request's arrival to its answer, by matched route pattern and method.",
      labelNames: ["route", "method"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    eventsAccepted: new Counter({
      name: "evpipe_events_accepted_total",
      help: "Events in 202 answers: acknowledged by JetStream.",
      registers,
    }),
    publishDuration: new Histogram({
      name: "evpipe_publish_duration_seconds",
      help: "Time from a request's JetStream publish until its PubAck (or failure).",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    publishesInFlight: new Gauge({
      name: "evpipe_publishes_in_flight",
      help: "Publishes awaiting their PubAck.",
      registers,
    }),
    publishFailures: new Counter({
      name: "evpipe_publish_failures_total",
      help: "Publishes JetStream did not acknowledge (each answered 503).",
      registers,
    }),
  };
}

/**
 * The pattern of the route that matched (`/v1/events/:id`), never the raw path, so the label set stays
 * bounded; "unmatched" when only middleware matched (404, or 405 for a known path under another method).
 * The last matched route of the request's method is the endpoint even when a guard or middleware answered.
 */
export function routeLabel(c: Context<GatewayEnv>): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i];
    if (route && route.method !== "ALL") return route.path;
  }
  return "unmatched";
}

/** Counts and times every request; registered first, so it sees every answer, errors and early ones too. */
export function requestMetrics(metrics: GatewayMetrics) {
  // Children cached by their labels: prom-client hashes the label object on every unbound call.
  const counters = new Map<string, { inc(): void }>();
  const timers = new Map<string, { observe(value: number): void }>();
  return createMiddleware<GatewayEnv>(async (c, next) => {
    const started = performance.now();
    await next();
    const route = routeLabel(c);
    const method = c.req.method;
    const status = String(c.res.status);
    const timerKey = `${method} ${route}`;
    let timer = timers.get(timerKey);
    if (!timer) {
      timer = metrics.httpRequestDuration.labels(route, method);
      timers.set(timerKey, timer);
    }
    timer.observe(secondsSince(started));
    const counterKey = `${timerKey} ${status}`;
    let counter = counters.get(counterKey);
    if (!counter) {
      counter = metrics.httpRequests.labels(route, method, status);
      counters.set(counterKey, counter);
    }
    counter.inc();
  });
}

/** Publish latency, publishes in flight, failures and accepted events, around any EventPublisher. */
export function meteredPublisher(publisher: EventPublisher, metrics: GatewayMetrics): EventPublisher {
  return {
    async publish(events, requestId) {
      const started = performance.now();
      metrics.publishesInFlight.inc();
      try {
        await publisher.publish(events, requestId);
      } catch (err) {
        metrics.publishFailures.inc();
        throw err;
      } finally {
        metrics.publishesInFlight.dec();
        metrics.publishDuration.observe(secondsSince(started));
      }
      metrics.eventsAccepted.inc(events.length);
    },
  };
}

/** `GET /metrics` in the Prometheus text format, no key; nothing at all when metrics are off (404). */
export function metricsRoutes(metrics: GatewayMetrics | undefined) {
  const routes = new Hono<GatewayEnv>();
  if (!metrics) return routes;
  return routes.get("/metrics", async (c) => {
    const { body, contentType } = await metricsExposition(metrics.registry);
    return c.body(body, 200, { "Content-Type": contentType });
  });
}
