import { collectDefaultMetrics, Registry } from "prom-client";
import { booleanVar } from "./config.ts";

/** `METRICS_ENABLED=false` serves no /metrics and measures nothing (the bench compares both). */
export const metricsEnabledVar = booleanVar(true);

// Gauges that prom-client names like counters, which `promtool check metrics` rejects; the per-type gauges
// (nodejs_active_handles{type}, ...) carry the same numbers.
const lintFailingDefaults = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/**
 * A service's own registry, holding prom-client's default process and Node.js metrics, so two services in one
 * process (a test) never share counters.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of lintFailingDefaults) registry.removeSingleMetric(name);
  return registry;
}

/** The registry in the Prometheus text format, with the content type that names its version. */
export async function metricsExposition(registry: Registry): Promise<{ body: string; contentType: string }> {
  return { body: await registry.metrics(), contentType: registry.contentType };
}

/** Seconds between two `performance.now()` readings, as Prometheus histograms of durations expect. */
export function secondsSince(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}
