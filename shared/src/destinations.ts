import * as v from "valibot";

/** The tools a destination can forward to (PRODUCT.md §6, §7). */
export const destinationTypes = ["webhook", "segment", "posthog", "mixpanel"] as const;
export type DestinationType = (typeof destinationTypes)[number];

// A destination's name becomes part of a durable consumer's name and of a subject: no dots, wildcards or spaces.
const namePattern = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
const nameRule = "must be 1 to 40 lower-case letters, digits or dashes, starting and ending with a letter or digit";
const urlRule = "must be an http:// or https:// URL";

export const destinationName = v.pipe(v.string(nameRule), v.regex(namePattern, nameRule));

export const destinationUrl = v.pipe(
  v.string(urlRule),
  v.check((text) => {
    try {
      const url = new URL(text);
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
    } catch {
      return false;
    }
  }, urlRule),
);

/**
 * A destination as the `destinations` bucket keeps it, keyed by name: the forwarder watches the bucket and
 * `pnpm ops destinations` writes it. `secret` is sealed (destination-secrets.ts), never the credential itself.
 */
export const destinationRecord = v.object({
  name: destinationName,
  type: v.picklist(destinationTypes, `must be one of ${destinationTypes.join(", ")}`),
  url: destinationUrl,
  secret: v.string(),
  /** Only these event names are forwarded; every event when absent. */
  events: v.optional(v.array(v.string())),
  /** Requests per second to the vendor at most; unlimited when absent. */
  rate: v.optional(v.pipe(v.number(), v.minValue(0.01))),
  paused: v.boolean(),
  created_at: v.string(),
  /** The time its consumer starts reading EVENTS from; new events only when absent. */
  start_at: v.optional(v.string()),
});
export type DestinationRecord = v.InferOutput<typeof destinationRecord>;

/** The JetStream names of destinations, under the same namespace as natsNames. */
export function destinationNames(namespace?: string) {
  const stream = namespace ? `${namespace}_` : "";
  const subject = namespace ? `${namespace}.` : "";
  return {
    bucket: `${stream}destinations`,
    /** Every destination's dead letters, in a stream of their own (PRODUCT.md §4). */
    dlqStream: `${stream}DESTINATIONS_DLQ`,
    dlqSubjects: `${subject}events.dlq.destination.>`,
    consumer: (name: string) => `${stream}destination-${name}`,
    dlqSubject: (name: string) => `${subject}events.dlq.destination.${name}`,
  };
}
