import { isNotFound, type Logger } from "@evpipe/shared";
import type { JetStreamManager } from "nats";
import type { ForwarderMetrics } from "./metrics.ts";
import type { DestinationSource } from "./provision.ts";

/** A destination's lag: what its consumers have yet to deliver (pending) or settle (unacknowledged). */
export async function destinationLag(jsm: JetStreamManager, sources: readonly DestinationSource[]): Promise<number> {
  let lag = 0;
  for (const source of sources) {
    const info = await jsm.consumers.info(source.stream, source.consumer).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (info) lag += info.num_pending + info.num_ack_pending;
  }
  return lag;
}

/**
 * Reads each destination's lag from JetStream on a timer (never per scrape or message), paused ones included:
 * a paused destination's lag grows, and that is what an operator wants to see.
 */
export function startLagSampler(options: {
  jsm: JetStreamManager;
  destinations: () => Array<{ name: string; sources: readonly DestinationSource[] }>;
  metrics: ForwarderMetrics;
  log: Logger;
  intervalMs: number;
}) {
  let sampling: Promise<void> = Promise.resolve();
  const sample = async () => {
    try {
      for (const { name, sources } of options.destinations()) {
        options.metrics.lag.set({ destination: name }, await destinationLag(options.jsm, sources));
      }
      options.metrics.sampleTimestamp.set(Date.now() / 1000);
    } catch (err) {
      options.log.warn({ err }, "could not read the destinations' lag");
    }
  };
  let busy = false;
  const timer = setInterval(() => {
    // A slow NATS: skip the tick rather than queue samples behind it.
    if (busy) return;
    busy = true;
    sampling = sample().finally(() => {
      busy = false;
    });
  }, options.intervalMs);
  sampling = sample();
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await sampling;
    },
  };
}
