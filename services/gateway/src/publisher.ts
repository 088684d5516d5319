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

export function createJetStreamPublisher(js: JetStreamClient, subject: string, timeoutMs: number): EventPublisher {
  return {
    async publish(events, requestId) {
      const h = headers();
      h.set(messageHeaders.requestId, requestId);
      const payload = Buffer.from(JSON.stringify({ v: 1, events }));
      await js.publish(subject, payload, { msgID: messageId(events), headers: h, timeout: timeoutMs });
    },
  };
}
