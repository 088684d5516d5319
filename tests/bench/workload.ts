import type { EnvelopeEvent, IngestEvent } from "@evpipe/shared";
import { v7 as uuidv7 } from "uuid";

const eventNames = ["page_view", "search", "add_to_cart", "checkout", "signup"];
const paths = ["/", "/pricing", "/docs/getting-started", "/blog/2026/11/launch", "/account/settings"];

/**
 * A typical small event: half carry a client timestamp, all a little metadata. No id, so the gateway
 * assigns a fresh UUIDv7 to every event of every request and a constant body never repeats an event.
 */
export function sampleEvent(index: number): IngestEvent {
  const event: IngestEvent = {
    event: eventNames[index % eventNames.length] as string,
    user_id: `user-${(index * 7919) % 50_000}`,
    metadata: { path: paths[index % paths.length], plan: index % 3 === 0 ? "pro" : "free", position: index },
  };
  if (index % 2 === 0) event.client_ts = new Date(Date.now() - 60_000 - index * 1000).toISOString();
  return event;
}

export function batchBody(size: number): string {
  return JSON.stringify({ events: Array.from({ length: size }, (_, index) => sampleEvent(index)) });
}

export function singleBody(): string {
  return JSON.stringify(sampleEvent(0));
}

/** What the gateway would publish for `count` events sent in requests of `batchSize`, ready for insertEvents. */
export function envelopeEvents(count: number, batchSize: number): EnvelopeEvent[][] {
  const batches: EnvelopeEvent[][] = [];
  for (let start = 0; start < count; start += batchSize) {
    const receivedAt = new Date().toISOString();
    const requestId = uuidv7();
    const size = Math.min(batchSize, count - start);
    batches.push(
      Array.from({ length: size }, (_, index) => ({
        ...sampleEvent(index),
        id: uuidv7(),
        received_at: receivedAt,
        request_id: requestId,
        key_id: "bench",
      })),
    );
  }
  return batches;
}
