import { createHash } from "node:crypto";
import { type EnvelopeEvent, messageHeaders } from "@evpipe/shared";
import { headers, type JetStreamClient } from "nats";

export interface EventPublisher {
  /** Resolves once JetStream has stored the message; rejects when it did not acknowledge in time. */
  publish(events: readonly EnvelopeEvent[], requestId: string): Promise<void>;
}

/**
 * The Nats-Msg-Id of a request: derived from its event ids, so a producer retrying with the same ids inside
 * the duplicate window is stored once by JetStream itself.
 */
export function messageId(events: readonly EnvelopeEvent[]): string {
  if (events.length === 1) return (events[0] as EnvelopeEvent).id;
  const hash = createHash("sha256");
  for (const event of events) hash.update(event.id);
  return `batch-${hash.digest("base64url")}`;
}

/**
 * One message per request. Only when the envelope outgrows the server's max_payload (1 MB by default, and the
 * envelope adds ids and provenance to a body of up to 1 MiB) is it split in halves, each part with its own
 * message id; the request is acknowledged only when every part is.
 */
export function createJetStreamPublisher(options: {
  js: JetStreamClient;
  subject: string;
  timeoutMs: number;
  maxPayloadBytes: () => number;
}): EventPublisher {
  const { js, subject, timeoutMs } = options;
  async function publishPart(events: readonly EnvelopeEvent[], requestId: string): Promise<void> {
    const payload = Buffer.from(JSON.stringify({ v: 1, events }));
    // Headers and subject need room too.
    if (payload.length > options.maxPayloadBytes() - 1024 && events.length > 1) {
      const half = Math.ceil(events.length / 2);
      await Promise.all([publishPart(events.slice(0, half), requestId), publishPart(events.slice(half), requestId)]);
      return;
    }
    const h = headers();
    h.set(messageHeaders.requestId, requestId);
    await js.publish(subject, payload, { msgID: messageId(events), headers: h, timeout: timeoutMs });
  }
  return { publish: publishPart };
}
