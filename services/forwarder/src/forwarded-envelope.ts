import { type EnvelopeEvent, envelopeVersion, isJsonObject, parseJsonText } from "@evpipe/shared";
import * as v from "valibot";

/**
 * What the forwarder needs of an EVENTS message: its events, each with the fields every vendor format reads.
 * Not the full envelope schema the writer checks (metadata size, depth, text rules): the gateway checked those
 * before publishing, and repeating them for every destination was most of the forwarder's decoding time. Numbers
 * are kept as written (parseJsonText), so a vendor gets exactly what the producer sent.
 */
const forwardedEnvelope = v.object({
  v: v.literal(envelopeVersion),
  events: v.pipe(
    v.array(
      v.looseObject({
        id: v.string(),
        event: v.string(),
        user_id: v.string(),
        received_at: v.string(),
        client_ts: v.optional(v.string()),
        metadata: v.optional(v.custom<Record<string, unknown>>(isJsonObject, "must be a JSON object")),
      }),
    ),
    v.minLength(1),
  ),
});

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The message's events; throws (a SyntaxError, TypeError or ValiError) when it is not an envelope. */
export function decodeForwarded(data: Uint8Array): EnvelopeEvent[] {
  // The looser check's output is the envelope the gateway validated; only its shape was checked again here.
  return v.parse(forwardedEnvelope, parseJsonText(utf8.decode(data))).events as EnvelopeEvent[];
}
