import type { Logger, NatsNames } from "@evpipe/shared";
import type { JetStreamManager, StreamInfo } from "nats";
import type { JetStreamGauges } from "./metrics.ts";

export interface SamplerDeps {
  jsm: JetStreamManager;
  names: NatsNames;
  gauges: JetStreamGauges;
  log: Logger;
  intervalMs: number;
  now?: () => number;
}

function setStream(gauges: JetStreamGauges, info: StreamInfo): void {
  const stream = info.config.name;
  gauges.streamBytes.labels(stream).set(info.state.bytes);
  gauges.streamMessages.labels(stream).set(info.state.messages);
  // JetStream reports an unlimited stream as -1 already; anything not positive means no cap.
  gauges.streamMaxBytes.labels(stream).set(info.config.max_bytes > 0 ? info.config.max_bytes : -1);
}

/** One sample of the writer consumer and both streams; every gauge is set only once all three answered. */
export async function sampleJetStream(deps: Omit<SamplerDeps, "intervalMs" | "log">): Promise<void> {
  const { jsm, names, gauges } = deps;
  const [consumer, events, dlq] = await Promise.all([
    jsm.consumers.info(names.eventsStream, names.writerConsumer),
    jsm.streams.info(names.eventsStream),
    jsm.streams.info(names.dlqStream),
  ]);
  const name = consumer.name;
  gauges.pending.labels(name).set(consumer.num_pending);
  gauges.ackPending.labels(name).set(consumer.num_ack_pending);
  gauges.lag.labels(name).set(consumer.num_pending + consumer.num_ack_pending);
  setStream(gauges, events);
  setStream(gauges, dlq);
  gauges.dlqMessages.labels(dlq.config.name).set(dlq.state.messages);
  gauges.sampleTimestamp.set((deps.now ?? Date.now)() / 1000);
}

/**
 * Samples JetStream now and then every `intervalMs`, one sample at a time, never inside a scrape or per
 * message. A failed sample keeps the last values (the timestamp gauge shows their age) and warns once per run
 * of failures.
 */
export function startJetStreamSampler(deps: SamplerDeps): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let failing = false;
  const tick = async () => {
    try {
      await sampleJetStream(deps);
      if (failing) deps.log.info("JetStream sampling recovered");
      failing = false;
    } catch (err) {
      if (!failing) deps.log.warn({ err }, "could not sample JetStream; the lag and stream gauges keep their values");
      failing = true;
    }
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick();
    }, deps.intervalMs);
    timer.unref();
  };
  running = tick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
