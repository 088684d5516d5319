import { createMetricsRegistry, metricsExposition, secondsSince } from "@evpipe/shared";
import { type Context, Hono } from "hono";
import { matchedRoutes } from "hono/route";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { GatewayEnv } from "./context.ts";
import type { RequestObserver } from "./middleware/request-context.ts";
import { type EventPublisher, PublishError, type PublishFailure, publishFailureReasons } from "./publisher.ts";

/** The gateway's Prometheus metrics (PRODUCT.md §9); names are agreed with the alert rules, never renamed. */
export interface GatewayMetrics {
  registry: Registry;
  httpRequests: Counter<"route" | "method" | "status">;
  httpRequestDuration: Histogram<"route" | "method">;
  eventsAccepted: Counter;
  publishDuration: Histogram;
  publishesInFlight: Gauge;
  /** Publishes awaiting their PubAck, counted by meteredPublisher; the gauge reads it at scrape time. */
  inFlight: { count: number };
  publishFailures: Counter;
  /** The same failures by why; every reason's series exists from the start, at 0. */
  publishFailuresByReason: Counter<"reason">;
  /** Segment messages left out of an accepted request (reported in its 200 body, which the SDKs ignore). */
  messagesRejected: Counter;
}

export function createGatewayMetrics(registry: Registry = createMetricsRegistry()): GatewayMetrics {
  const registers = [registry];
  const inFlight = { count: 0 };
  return {
    registry,
    inFlight,
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
      collect() {
        this.set(inFlight.count);
      },
    }),
    publishFailures: new Counter({
      name: "evpipe_publish_failures_total",
      help: "Publishes JetStream did not acknowledge (each answered 503).",
      registers,
    }),
    publishFailuresByReason: failuresByReason(registers),
    messagesRejected: new Counter({
      name: "evpipe_segment_messages_rejected_total",
      help: "Segment messages left out of their request for breaking a rule; the SDKs do not read the reasons.",
      registers,
    }),
  };
}

/** Label values of evpipe_publish_failures_by_reason_total: the publisher's reasons, and any other error. */
type FailureLabel = PublishFailure | "other";
const failureLabels: readonly FailureLabel[] = [...publishFailureReasons, "other"];

function failuresByReason(registers: Registry[]): Counter<"reason"> {
  const counter = new Counter({
    name: "evpipe_publish_failures_by_reason_total",
    help:
      "Publishes not acknowledged, by reason: timeout (no PubAck within PUBLISH_TIMEOUT_MS), disconnected " +
      "(the connection to NATS dropped or was down), cluster_changed (a server left or joined the NATS cluster " +
      "while it awaited its PubAck), no_responders (no server took it: the stream has no leader, as during an " +
      "election, or no stream captures the subject), refused (JetStream answered an error: stream full, not " +
      "leader), overloaded (PUBLISH_MAX_IN_FLIGHT reached), other.",
    labelNames: ["reason"],
    registers,
  });
  for (const reason of failureLabels) counter.labels(reason).inc(0);
  return counter;
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

/**
 * Counts and times one answered request; the request-context middleware calls it with the time it measured, so
 * metrics add no middleware layer (an await and a timer per request) of their own.
 */
export function requestObserver(metrics: GatewayMetrics): RequestObserver {
  // Children cached per route, method and status (prom-client would hash a label object on every unbound
  // call), in nested maps keyed by strings that already exist: no key is built per request.
  const byRoute = new Map<string, Map<string, RouteMetrics>>();
  return (c, seconds) => {
    const route = routeLabel(c);
    const method = c.req.method;
    let byMethod = byRoute.get(route);
    if (!byMethod) {
      byMethod = new Map();
      byRoute.set(route, byMethod);
    }
    let children = byMethod.get(method);
    if (!children) {
      children = { duration: metrics.httpRequestDuration.labels(route, method), byStatus: new Map() };
      byMethod.set(method, children);
    }
    children.duration.observe(seconds);
    const status = c.res.status;
    let counter = children.byStatus.get(status);
    if (!counter) {
      counter = metrics.httpRequests.labels(route, method, String(status));
      children.byStatus.set(status, counter);
    }
    counter.inc();
    const rejected = c.get("rejectedMessages");
    if (rejected) metrics.messagesRejected.inc(rejected);
  };
}

interface RouteMetrics {
  duration: { observe(value: number): void };
  byStatus: Map<number, { inc(): void }>;
}

/**
 * Publish latency, publishes in flight, failures and accepted events, around any EventPublisher. No async layer
 * of its own and a plain number for the in-flight gauge: this runs for every request.
 */
export function meteredPublisher(publisher: EventPublisher, metrics: GatewayMetrics): EventPublisher {
  const { inFlight, publishDuration, eventsAccepted, publishFailures } = metrics;
  const byReason = new Map(failureLabels.map((reason) => [reason, metrics.publishFailuresByReason.labels(reason)]));
  return {
    publish(events, requestId) {
      const started = performance.now();
      inFlight.count++;
      return publisher.publish(events, requestId).then(
        (published) => {
          inFlight.count--;
          publishDuration.observe(secondsSince(started));
          // Events in 202 answers, a client's retry of a stored batch included (the pipeline report counts new ones).
          eventsAccepted.inc(events.length);
          return published;
        },
        (err: unknown) => {
          inFlight.count--;
          publishDuration.observe(secondsSince(started));
          publishFailures.inc();
          const reason: FailureLabel = (err instanceof PublishError && err.reason) || "other";
          byReason.get(reason)?.inc();
          throw err;
        },
      );
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
