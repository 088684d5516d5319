import type { GatewayCounts } from "@evpipe/shared";
import type { EventPublisher } from "../publisher.ts";

/**
 * Counts the events JetStream stored, for the pipeline report, around any EventPublisher: every ingest route
 * publishes through it, the Segment-compatible ones too. Not a retry's: an SDK retries with the same ids, which
 * JetStream acknowledges as a duplicate and the consumer never stores twice, so accepted_per_second stays
 * comparable with stored_per_second. Kept apart from the metrics, which may be off.
 */
export function countingPublisher(publisher: EventPublisher, counts: GatewayCounts): EventPublisher {
  return {
    publish(events, requestId) {
      return publisher.publish(events, requestId).then((published) => {
        counts.accepted += published.newEvents;
        return published;
      });
    },
  };
}
