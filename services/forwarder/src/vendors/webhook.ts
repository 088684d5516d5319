import { createHmac } from "node:crypto";
import { type EnvelopeEvent, envelopeMessageId } from "@evpipe/shared";
import type { DeliveryTarget, Vendor } from "./vendor.ts";

/** The signature a receiver recomputes: HMAC-SHA256 with the secret over `<timestamp>.<body>`, hex. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/**
 * A generic webhook: the events as a JSON batch, as the pipeline stores them, signed (PRODUCT.md §7).
 * `X-Evpipe-Timestamp` (seconds) is inside the signature, so a receiver can refuse an old request replayed;
 * `Idempotency-Key` is derived from the batch's event ids (envelopeMessageId), and each event carries its own `id`.
 */
export const webhook: Vendor = {
  maxBatch: 100,
  // A receiver of ours refuses over 1 MiB by default; many web frameworks stop at 1 MB too.
  maxBatchBytes: 1_000_000,
  request(target: DeliveryTarget, events: readonly EnvelopeEvent[], nowMs: number) {
    const body = JSON.stringify({ events });
    const timestamp = String(Math.floor(nowMs / 1000));
    return {
      url: target.url,
      headers: {
        "Content-Type": "application/json",
        // The same key JetStream deduplicates the request's message by: derived from the events' ids.
        "Idempotency-Key": envelopeMessageId(events),
        "X-Evpipe-Timestamp": timestamp,
        "X-Evpipe-Signature": webhookSignature(target.secret, timestamp, body),
      },
      body,
    };
  },
};
