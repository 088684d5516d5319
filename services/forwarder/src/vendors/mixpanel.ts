import type { EnvelopeEvent } from "@evpipe/shared";
import { basicAuth, type DeliveryTarget, endpoint, occurredAt, propertiesOf, type Vendor } from "./vendor.ts";

/**
 * Mixpanel's import API (`POST /import?strict=1`, the project token as Basic auth's user name), which takes
 * up to 2000 events per request. The event id is `$insert_id`, Mixpanel's deduplication key (36 characters at
 * most: a UUID is exactly that); `time` is in milliseconds. Under strict=1 a 400 is partial: Mixpanel imports the
 * valid events and names the others in `failed_records`.
 */
export const mixpanel: Vendor = {
  maxBatch: 2000,
  // Mixpanel /import: "up to 2000 events and 10 MB uncompressed" per request.
  maxBatchBytes: 10_000_000,
  request(target: DeliveryTarget, events: readonly EnvelopeEvent[]) {
    const body = events.map((event) => ({
      event: event.event,
      properties: {
        ...propertiesOf(event),
        time: Date.parse(occurredAt(event)),
        distinct_id: event.user_id,
        $insert_id: event.id,
      },
    }));
    return {
      url: endpoint(target.url, "/import?strict=1"),
      headers: { "Content-Type": "application/json", Authorization: basicAuth(target.secret) },
      body: JSON.stringify(body),
    };
  },
  refusedIds(status, body, events) {
    if (status !== 400) return undefined;
    try {
      const answer = JSON.parse(body) as { failed_records?: Array<{ insert_id?: unknown; index?: unknown }> };
      // A 400 naming no record is no partial refusal: the whole batch was refused.
      if (!Array.isArray(answer.failed_records) || answer.failed_records.length === 0) return undefined;
      const ids = answer.failed_records.map((record) =>
        typeof record.insert_id === "string" ? record.insert_id : events[Number(record.index)]?.id,
      );
      return ids.every((id) => typeof id === "string") ? (ids as string[]) : undefined;
    } catch {
      return undefined;
    }
  },
};
