import { type EnvelopeEvent, encodeEnvelope, envelopeMessageId, messageHeaders } from "@evpipe/shared";
import { createInbox, headers, type NatsConnection } from "nats";

export interface EventPublisher {
  /** Resolves once JetStream has stored the message; rejects when it did not acknowledge in time. */
  publish(events: readonly EnvelopeEvent[], requestId: string): Promise<void>;
}

export class PublishError extends Error {
  override name = "PublishError";
}

interface PendingAck {
  resolve: () => void;
  reject: (err: Error) => void;
  deadline: number;
}

interface PubAckReply {
  seq?: number;
  duplicate?: boolean;
  error?: { code: number; err_code?: number; description: string };
}

/**
 * Publishes to JetStream through one reply subscription shared by every request, with a bounded number of
 * publishes awaiting their PubAck and one sweeping timer for timeouts. `js.publish` creates a request, a
 * timer and an error object per call, which capped a single gateway near 2k requests/s on two cores.
 *
 * One message per request. Only when the envelope outgrows the server's max_payload (1 MB by default, and the
 * envelope adds ids and provenance to a body of up to 1 MiB) is it split in halves, each part with its own
 * message id; the request is acknowledged only when every part is.
 */
export function createJetStreamPublisher(options: {
  nc: NatsConnection;
  subject: string;
  timeoutMs: number;
  maxInFlight: number;
}): EventPublisher & { close(): void } {
  const { nc, subject, timeoutMs } = options;
  const inbox = createInbox();
  const pending = new Map<string, PendingAck>();
  const decoder = new TextDecoder();
  let nextToken = 0;
  // Publishes from requests handled in the same event-loop turn go out in one socket write: nats.js flushes
  // after each macrotask, which was one write syscall per request.
  let queued: Array<() => void> = [];
  const flushQueued = () => {
    const batch = queued;
    queued = [];
    for (const send of batch) send();
  };

  nc.subscribe(`${inbox}.*`, {
    callback: (err, msg) => {
      if (err) return;
      const token = msg.subject.slice(inbox.length + 1);
      const waiter = pending.get(token);
      if (!waiter) return;
      pending.delete(token);
      // The server answers "no responders" (503) when no stream captures the subject.
      if (msg.headers?.hasError) {
        waiter.reject(new PublishError(`JetStream: ${msg.headers.code} ${msg.headers.description}`));
        return;
      }
      const ack = JSON.parse(decoder.decode(msg.data)) as PubAckReply;
      if (ack.error)
        waiter.reject(new PublishError(`JetStream: ${ack.error.err_code ?? ack.error.code} ${ack.error.description}`));
      else waiter.resolve();
    },
  });

  // Every publish waits the same time, so the map (insertion-ordered) expires from its front.
  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [token, waiter] of pending) {
        if (waiter.deadline > now) break;
        pending.delete(token);
        waiter.reject(new PublishError(`no PubAck within ${timeoutMs} ms`));
      }
    },
    Math.max(10, Math.min(100, timeoutMs / 5)),
  );
  sweeper.unref();

  function publishMessage(payload: Uint8Array, msgId: string, requestId: string): Promise<void> {
    if (pending.size >= options.maxInFlight) {
      return Promise.reject(new PublishError(`${options.maxInFlight} publishes already await a PubAck`));
    }
    const token = (nextToken++).toString(36);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    pending.set(token, { resolve, reject, deadline: Date.now() + timeoutMs });
    const h = headers();
    h.set("Nats-Msg-Id", msgId);
    h.set(messageHeaders.requestId, requestId);
    if (queued.length === 0) setImmediate(flushQueued);
    queued.push(() => {
      try {
        nc.publish(subject, payload, { reply: `${inbox}.${token}`, headers: h });
      } catch (err) {
        pending.delete(token);
        reject(new PublishError(`publish failed: ${(err as Error).message}`, { cause: err }));
      }
    });
    return promise;
  }

  async function publish(events: readonly EnvelopeEvent[], requestId: string): Promise<void> {
    const payload = encodeEnvelope(events);
    // Headers and subject need room too.
    if (payload.length > (nc.info?.max_payload ?? 1024 * 1024) - 1024 && events.length > 1) {
      const half = Math.ceil(events.length / 2);
      await Promise.all([publish(events.slice(0, half), requestId), publish(events.slice(half), requestId)]);
      return;
    }
    await publishMessage(payload, envelopeMessageId(events), requestId);
  }

  return {
    publish,
    close: () => clearInterval(sweeper),
  };
}
