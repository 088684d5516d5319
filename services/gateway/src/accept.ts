import type { EnvelopeEvent } from "@evpipe/shared";
import type { Context } from "hono";
import type { GatewayEnv } from "./context.ts";
import { ApiError } from "./errors.ts";
import type { EventPublisher } from "./publisher.ts";

/** What the gateway adds to every event it accepts: when, in which request, under which key. */
export function provenance(c: Context<GatewayEnv>, receivedAt: string) {
  return { received_at: receivedAt, request_id: c.get("requestId"), key_id: c.get("apiKey").id };
}

/**
 * Publishes one message for the request and returns only after JetStream's acknowledgement (PRODUCT.md §1);
 * without one, the answer is a 503 the client retries with the same ids.
 */
export async function publishAccepted(
  c: Context<GatewayEnv>,
  publisher: EventPublisher,
  events: readonly EnvelopeEvent[],
): Promise<void> {
  try {
    await publisher.publish(events, c.get("requestId"));
  } catch (err) {
    c.get("log").warn({ err, eventCount: events.length }, "publish not acknowledged");
    throw new ApiError("UNAVAILABLE", "The event bus did not acknowledge in time; retry with the same ids.", {
      headers: { "Retry-After": "1" },
      cause: err,
    });
  }
}
