import type { Readiness } from "@evpipe/shared";
import type { DestinationState } from "./forwarder.ts";

export interface ForwarderStatus {
  ready: boolean;
  destinations: Record<string, DestinationState>;
}

/**
 * Ready once the configured destinations were started and NATS is connected. A destination that could not
 * start (its secret does not open) is named in the answer but does not make the forwarder unready: the others
 * are delivering.
 */
export function forwarderReadiness(status: ForwarderStatus, natsConnected: boolean): Readiness {
  return {
    ready: status.ready && natsConnected,
    body: { nats: natsConnected, destinations: status.destinations },
  };
}
