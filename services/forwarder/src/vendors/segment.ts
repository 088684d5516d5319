import type { EnvelopeEvent } from "@evpipe/shared";
import { basicAuth, type DeliveryTarget, endpoint, occurredAt, segmentMessageOf, type Vendor } from "./vendor.ts";

/** One event as a Segment message: the message it came as, or a track call made of our fields. */
function segmentMessage(event: EnvelopeEvent): Record<string, unknown> {
  const original = segmentMessageOf(event);
  const timing = { messageId: event.id, timestamp: occurredAt(event) };
  if (original) {
    // The first hop's sentAt is not this hop's; the time it corrected is in `timestamp` now.
    const { sentAt: _, ...message } = original;
    return { ...message, ...timing };
  }
  return {
    type: "track",
    event: event.event,
    userId: event.user_id,
    properties: event.metadata ?? {},
    context: { library: { name: "evpipe" } },
    ...timing,
  };
}

/**
 * Segment's HTTP Tracking API (`POST /v1/batch`, Basic auth with the write key), which our own gateway also
 * speaks. The event id is the `messageId`, so a redelivered batch is deduplicated by Segment (and by us).
 * Requests are cut at 100 messages or 500 KB, whichever comes first (Segment's batch limit is 500 KB).
 */
export const segment: Vendor = {
  maxBatch: 100,
  maxBatchBytes: 500_000,
  request(target: DeliveryTarget, events: readonly EnvelopeEvent[], nowMs: number) {
    return {
      url: endpoint(target.url, "/v1/batch"),
      headers: { "Content-Type": "application/json", Authorization: basicAuth(target.secret) },
      body: JSON.stringify({ batch: events.map(segmentMessage), sentAt: new Date(nowMs).toISOString() }),
    };
  },
};
