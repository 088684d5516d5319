import { createMetricsRegistry, deadLetterReasons } from "@evpipe/shared";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Every series is labelled by destination name, a bounded set an operator chose (PRODUCT.md §9). */
export interface ForwarderMetrics {
  registry: Registry;
  delivered: Counter<"destination">;
  failed: Counter<"destination" | "reason">;
  retries: Counter<"destination">;
  requests: Counter<"destination" | "outcome">;
  requestDuration: Histogram<"destination">;
  lag: Gauge<"destination">;
  paused: Gauge<"destination">;
  lastSuccess: Gauge<"destination">;
  sampleTimestamp: Gauge;
}

export function createForwarderMetrics(): ForwarderMetrics {
  const registry = createMetricsRegistry();
  const registers = [registry];
  const labelNames = ["destination"] as const;
  return {
    registry,
    delivered: new Counter({
      name: "evpipe_destination_events_delivered_total",
      help: "Events the destination's vendor accepted (a redelivery delivered again counts again).",
      labelNames,
      registers,
    }),
    failed: new Counter({
      name: "evpipe_destination_events_failed_total",
      help: "Events dead-lettered for the destination, by reason (permanent_error, retries_exhausted).",
      labelNames: ["destination", "reason"],
      registers,
    }),
    retries: new Counter({
      name: "evpipe_destination_retries_total",
      help: "Messages given back for a counted retry (nak with 3^n backoff or the vendor's Retry-After).",
      labelNames,
      registers,
    }),
    requests: new Counter({
      name: "evpipe_destination_requests_total",
      help: "Requests to the vendor by outcome: the status class (2xx, 4xx, 5xx) or unreachable.",
      labelNames: ["destination", "outcome"],
      registers,
    }),
    requestDuration: new Histogram({
      name: "evpipe_destination_request_duration_seconds",
      help: "Duration of one request to the vendor, failed ones included.",
      labelNames,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    lag: new Gauge({
      name: "evpipe_destination_lag",
      help: "Messages the destination has yet to deliver: pending plus unacknowledged, replays included (sampled).",
      labelNames,
      registers,
    }),
    paused: new Gauge({
      name: "evpipe_destination_paused",
      help: "1 while the destination is paused by an operator.",
      labelNames,
      registers,
    }),
    lastSuccess: new Gauge({
      name: "evpipe_destination_last_success_timestamp_seconds",
      help: "When the destination's vendor last accepted a request, in Unix seconds.",
      labelNames,
      registers,
    }),
    sampleTimestamp: new Gauge({
      name: "evpipe_destination_lag_sample_timestamp_seconds",
      help: "When the destinations' lag was last read from JetStream, in Unix seconds.",
      registers,
    }),
  };
}

/**
 * A destination's series from the start, at zero: an alert on a counter's increase, and a dashboard, see a
 * destination that has not failed yet rather than nothing.
 */
export function startSeries(metrics: ForwarderMetrics, destination: string, paused: boolean): void {
  metrics.paused.set({ destination }, paused ? 1 : 0);
  metrics.delivered.inc({ destination }, 0);
  metrics.retries.inc({ destination }, 0);
  for (const reason of deadLetterReasons) metrics.failed.inc({ destination, reason }, 0);
}

/** Drops a removed destination's series, so /metrics does not report it forever. */
export function forgetDestination(metrics: ForwarderMetrics, destination: string): void {
  for (const metric of [metrics.delivered, metrics.retries, metrics.requestDuration, metrics.lag]) {
    metric.remove({ destination });
  }
  for (const metric of [metrics.paused, metrics.lastSuccess]) metric.remove({ destination });
  for (const reason of deadLetterReasons) metrics.failed.remove({ destination, reason });
  for (const outcome of requestOutcomes) metrics.requests.remove({ destination, outcome });
}

export const requestOutcomes = ["2xx", "3xx", "4xx", "5xx", "unreachable"] as const;

/** The outcome label of one request: its status class, or unreachable. */
export function requestOutcome(status: number | undefined): (typeof requestOutcomes)[number] {
  if (status === undefined) return "unreachable";
  if (status < 300) return "2xx";
  if (status < 400) return "3xx";
  return status < 500 ? "4xx" : "5xx";
}
