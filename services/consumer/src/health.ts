import type { Readiness } from "@evpipe/shared";
import type { ConsumerStatus } from "./consumer.ts";

/** Ready only while consuming with NATS connected; paused (outage) and stopped (bug) say why. */
export function consumerReadiness(status: ConsumerStatus, natsConnected: boolean): Readiness {
  return {
    ready: status.ready && natsConnected,
    body: { state: status.state, nats: natsConnected, reason: status.reason },
  };
}
