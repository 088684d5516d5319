import type { EnvelopeEvent } from "@evpipe/shared";
import { type DeliveryTarget, endpoint, occurredAt, propertiesOf, type Vendor } from "./vendor.ts";

/**
 * PostHog's batch capture (`POST /batch/` with the project API key as `api_key` in the body). The event id is
 * PostHog's `uuid`, its deduplication key. The user is the `distinct_id`.
 */
export const posthog: Vendor = {
  maxBatch: 100,
  // PostHog refuses requests over 20 MB; a quarter of it keeps a request quick to retry.
  maxBatchBytes: 5_000_000,
  request(target: DeliveryTarget, events: readonly EnvelopeEvent[]) {
    const batch = events.map((event) => ({
      event: event.event,
      distinct_id: event.user_id,
      properties: { ...propertiesOf(event), distinct_id: event.user_id },
      timestamp: occurredAt(event),
      uuid: event.id,
    }));
    return {
      url: endpoint(target.url, "/batch/"),
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ api_key: target.secret, batch }),
    };
  },
};
