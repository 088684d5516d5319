import { createMetricsRegistry } from "@evpipe/shared";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { ConsumerStatus } from "./writer-loop.ts";

/** What the writer reports as it writes and settles; absent with METRICS_ENABLED=false. */
export interface WriterMetrics {
  eventsStored: Counter;
  writeDuration: Histogram;
  writeEvents: Histogram;
  retries: Counter<"code">;
  deadLetters: Counter<"reason" | "code">;
}

/** The JetStream figures sampled on a timer (jetstream-sampler.ts). */
export interface JetStreamGauges {
  lag: Gauge<"consumer">;
  pending: Gauge<"consumer">;
  ackPending: Gauge<"consumer">;
  dlqMessages: Gauge;
  streamBytes: Gauge<"stream">;
  streamMaxBytes: Gauge<"stream">;
  streamMessages: Gauge<"stream">;
  sampleTimestamp: Gauge;
}

export interface ConsumerMetrics extends WriterMetrics, JetStreamGauges {
  registry: Registry;
}

/** The states the state gauge reports; while stopping (a shutdown) every one of them is 0. */
const reportedStates = ["starting", "consuming", "paused", "stopped"] as const;

function writerMetrics(registers: Registry[]): WriterMetrics {
  return {
    eventsStored: new Counter({
      name: "evpipe_events_stored_total",
      help: "Events really inserted into PostgreSQL (a redelivered event already stored is not counted).",
      registers,
    }),
    writeDuration: new Histogram({
      name: "evpipe_write_duration_seconds",
      help: "Duration of one database write (one statement and transaction), failed ones included.",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    writeEvents: new Histogram({
      name: "evpipe_write_events",
      help: "Events in one database write.",
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 50_000],
      registers,
    }),
    retries: new Counter({
      name: "evpipe_retries_total",
      help: "Messages given back for a counted retry (nak with 3^n backoff), by the failure's code.",
      labelNames: ["code"],
      registers,
    }),
    deadLetters: new Counter({
      name: "evpipe_dead_letters_total",
      help: "Dead letters acknowledged by the DLQ stream, by reason and code.",
      labelNames: ["reason", "code"],
      registers,
    }),
  };
}

function jetStreamGauges(registers: Registry[]): JetStreamGauges {
  const gauge = <T extends string>(name: string, help: string, labelNames: readonly T[] = []) =>
    new Gauge<T>({ name, help, labelNames, registers });
  return {
    lag: gauge("evpipe_consumer_lag_messages", "Messages not yet acknowledged: pending + ack pending (sampled).", [
      "consumer",
    ]),
    pending: gauge("evpipe_consumer_pending_messages", "Messages not yet delivered to the consumer (sampled).", [
      "consumer",
    ]),
    ackPending: gauge("evpipe_consumer_ack_pending_messages", "Messages delivered, awaiting their ack (sampled).", [
      "consumer",
    ]),
    // Labelled by its stream, so the series is absent, not 0, until the first sample: a consumer still waiting
    // for NATS must not report an empty dead-letter queue.
    dlqMessages: gauge("evpipe_dlq_messages", "Messages in the dead-letter stream (sampled).", ["stream"]),
    streamBytes: gauge("evpipe_stream_bytes", "Bytes stored in the stream (sampled).", ["stream"]),
    streamMaxBytes: gauge("evpipe_stream_max_bytes", "The stream's size cap in bytes, -1 when unlimited (sampled).", [
      "stream",
    ]),
    streamMessages: gauge("evpipe_stream_messages", "Messages stored in the stream (sampled).", ["stream"]),
    sampleTimestamp: gauge(
      "evpipe_jetstream_sample_timestamp_seconds",
      "Unix time of the last successful JetStream sample; the sampled gauges are as old as this.",
    ),
  };
}

/**
 * The consumer's metrics (PRODUCT.md §9); names are agreed with the alert rules, never renamed. The paused
 * and state gauges read the writer loop's status when scraped: a field read, no I/O.
 */
export function createConsumerMetrics(status: () => ConsumerStatus): ConsumerMetrics {
  const registry = createMetricsRegistry();
  const registers = [registry];
  new Gauge({
    name: "evpipe_consumer_paused",
    help: "1 while the consumer is paused by a database outage, else 0.",
    registers,
    collect() {
      this.set(status().state === "paused" ? 1 : 0);
    },
  });
  new Gauge({
    name: "evpipe_consumer_state",
    help: "1 for the consumer's current state (starting, consuming, paused, stopped), 0 for the others.",
    labelNames: ["state"],
    registers,
    collect() {
      const current = status().state;
      for (const state of reportedStates) this.labels(state).set(current === state ? 1 : 0);
    },
  });
  return { registry, ...writerMetrics(registers), ...jetStreamGauges(registers) };
}
