import type { EnvelopeEvent } from "@evpipe/shared";

/** Where and as whom a destination delivers: the vendor's base URL and its credential, decrypted. */
export interface DeliveryTarget {
  url: string;
  secret: string;
}

/** One HTTP request carrying a batch of events, in the vendor's documented format. */
export interface VendorRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * One vendor's wire format: how a batch of our events becomes its request, with our event id in the vendor's
 * own idempotency field. A new vendor is one module implementing this, and its tests.
 */
export interface Vendor {
  /** Most events one request may carry, from the vendor's documented limits. */
  readonly maxBatch: number;
  /**
   * Most bytes one request's events may come to (estimated from the stored messages' sizes, which are larger
   * than what the vendor gets), from the vendor's documented limits.
   */
  readonly maxBatchBytes: number;
  request(target: DeliveryTarget, events: readonly EnvelopeEvent[], nowMs: number): VendorRequest;
  /**
   * For a vendor whose refusal can be partial (Mixpanel's 400 under strict=1 names the events it refused and
   * imports the rest): the ids of the refused events, or undefined when the whole batch was refused.
   */
  refusedIds?(status: number, body: string, events: readonly EnvelopeEvent[]): string[] | undefined;
}

/** When the event happened: the client's time when it sent one, else when the gateway received it. */
export const occurredAt = (event: EnvelopeEvent): string => event.client_ts ?? event.received_at;

/** `Authorization: Basic` with the credential as the user name and no password, as these vendors take it. */
export const basicAuth = (secret: string): string => `Basic ${Buffer.from(`${secret}:`).toString("base64")}`;

/** The base URL joined with the vendor's path, whether or not the base ends with a slash. */
export const endpoint = (base: string, path: string): string => `${base.replace(/\/+$/, "")}${path}`;

/**
 * The message an event from the Segment-compatible routes was made of (its metadata, ADR §30), or undefined for
 * an event of our own API, whose metadata is its properties.
 */
export function segmentMessageOf(event: EnvelopeEvent): Record<string, unknown> | undefined {
  const metadata = event.metadata;
  if (event.type === undefined || metadata === undefined || metadata.type !== event.type) return undefined;
  return metadata;
}

/** The properties a vendor gets: a Segment message's properties or traits, or our event's metadata. */
export function propertiesOf(event: EnvelopeEvent): Record<string, unknown> {
  const message = segmentMessageOf(event);
  if (!message) return event.metadata ?? {};
  const properties = message.properties ?? message.traits;
  return typeof properties === "object" && properties !== null && !Array.isArray(properties)
    ? (properties as Record<string, unknown>)
    : {};
}
