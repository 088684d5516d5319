import { type EnvelopeEvent, encodeEnvelope, envelopeMessageId, messageHeaders } from "@evpipe/shared";
import { createInbox, headers, type Msg, type NatsConnection, type QueuedIterator, type Status } from "nats";

/** What JetStream acknowledged for one publish. */
export interface Published {
  /**
   * The events of messages it stored now; a message it already held (a client's retry with the same ids, within
   * the duplicate window) is acknowledged too, as a duplicate, and its events are not counted again.
   */
  newEvents: number;
}

export interface EventPublisher {
  /** Resolves once JetStream has stored the message; rejects when it did not acknowledge. */
  publish(events: readonly EnvelopeEvent[], requestId: string): Promise<Published>;
}

/** Why a publish failed, a closed set (the failures metric's label). */
export const publishFailureReasons = [
  "timeout",
  "disconnected",
  "cluster_changed",
  "no_responders",
  "refused",
  "overloaded",
] as const;
export type PublishFailure = (typeof publishFailureReasons)[number];

export class PublishError extends Error {
  override name = "PublishError";
  /** Undefined only for an error made without one (a test double's). */
  readonly reason: PublishFailure | undefined;

  constructor(message: string, options: { reason?: PublishFailure; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.reason = options.reason;
  }
}

/** A PubAck: the message is stored, now or (a duplicate) before. */
interface Ack {
  duplicate: boolean;
}

interface PendingAck {
  resolve: (ack: Ack) => void;
  reject: (err: Error) => void;
  deadline: number;
}

interface PubAckReply {
  seq?: number;
  duplicate?: boolean;
  error?: { code: number; err_code?: number; description: string };
}

const decoder = new TextDecoder();

/**
 * What a PubAck reply says: stored (maybe as a duplicate), or the failure. Every error answer comes at once:
 * "no responders" (a 503 status) when no server is subscribed for the stream, as during a stream leader
 * election; a JSON error such as 503 "raft: not leader" or a full stream's 10077.
 */
export function readPubAck(msg: Pick<Msg, "headers" | "data">): Ack | PublishError {
  if (msg.headers?.hasError) {
    const reason = msg.headers.code === 503 ? "no_responders" : "refused";
    return new PublishError(`JetStream: ${msg.headers.code} ${msg.headers.description}`, { reason });
  }
  const ack = JSON.parse(decoder.decode(msg.data)) as PubAckReply;
  if (!ack.error) return { duplicate: ack.duplicate === true };
  const code = ack.error.err_code ?? ack.error.code;
  return new PublishError(`JetStream: ${code} ${ack.error.description}`, { reason: "refused" });
}

/**
 * The publishes awaiting their PubAck, keyed by reply token in the order they were sent (a Map keeps insertion
 * order, and tokens count up), with one sweeping timer for timeouts instead of one timer per publish.
 */
function pendingAcks(timeoutMs: number) {
  const waiters = new Map<string, PendingAck>();
  let nextToken = 0;
  // Every publish waits the same time, so the map expires from its front.
  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [token, waiter] of waiters) {
        if (waiter.deadline > now) break;
        waiters.delete(token);
        waiter.reject(new PublishError(`no PubAck within ${timeoutMs} ms`, { reason: "timeout" }));
      }
    },
    Math.max(10, Math.min(100, timeoutMs / 5)),
  );
  sweeper.unref();

  return {
    get size() {
      return waiters.size;
    },
    /** A token for the reply subject of a publish now awaiting its PubAck. */
    add(resolve: (ack: Ack) => void, reject: (err: Error) => void): string {
      const token = (nextToken++).toString(36);
      waiters.set(token, { resolve, reject, deadline: Date.now() + timeoutMs });
      return token;
    },
    /** The waiter for a token, no longer pending; undefined once settled otherwise (timed out, failed). */
    take(token: string): PendingAck | undefined {
      const waiter = waiters.get(token);
      if (waiter) waiters.delete(token);
      return waiter;
    },
    /** Fails every publish sent up to and including `token` (all of them without one). */
    fail(err: () => PublishError, upTo?: string) {
      const last = upTo === undefined ? Number.POSITIVE_INFINITY : Number.parseInt(upTo, 36);
      for (const [token, waiter] of waiters) {
        if (Number.parseInt(token, 36) > last) break;
        waiters.delete(token);
        waiter.reject(err());
      }
    },
    close: () => clearInterval(sweeper),
  };
}

interface ConnectionEvents {
  down(): void;
  up(): void;
  /** A server joined or left the cluster (nats.js's "update", from the server's INFO). */
  clusterChanged(): void;
}

/** Follows the connection's status. nats.js hands every status to every `status()` iterator. */
async function followConnection(statuses: AsyncIterable<Status>, on: ConnectionEvents, closed: () => boolean) {
  for await (const status of statuses) {
    if (closed()) break;
    if (status.type === "disconnect") on.down();
    else if (status.type === "reconnect") on.up();
    else if (status.type === "update") on.clusterChanged();
  }
}

const connectionLost = () => new PublishError("NATS connection lost before the PubAck", { reason: "disconnected" });
const publisherClosed = () => new PublishError("the publisher is closed", { reason: "disconnected" });
// A server left (or joined) the cluster: a publish may have gone to a stream leader on a server now gone, which
// never answers; the connection itself stays up, so nothing else would end its wait before the timeout.
const clusterChanged = () =>
  new PublishError("the NATS cluster changed before the PubAck", { reason: "cluster_changed" });
// No server took a later message: the stream has no leader (an election) or no longer exists. What went before
// it to a leader now gone gets no PubAck at all (nats-server 2.9 drops it) and would wait out the timeout.
const leaderLost = () =>
  new PublishError("a later publish found the stream without a leader; this PubAck may never come", {
    reason: "no_responders",
  });

/**
 * Publishes to JetStream through one reply subscription shared by every request, with a bounded number of
 * publishes awaiting their PubAck. `js.publish` creates a request, a timer and an error object per call, which
 * capped a single gateway near 2k requests/s on two cores.
 *
 * A publish whose PubAck may never come fails at once rather than at the timeout, with a PublishError; its
 * message may or may not be stored, and a retry with the same ids is absorbed by the duplicate window. So fail
 * all that await a PubAck when the connection drops (and every new one until it is back: nats.js would buffer
 * them and send them after their 503), when a server joins or leaves the cluster, and all sent before one that
 * no server took.
 *
 * One message per request. Only when the envelope outgrows the server's max_payload (1 MB by default, and the
 * envelope adds ids and provenance to a body of up to 1 MiB) is it split in halves, each part with its own
 * message id; the request is acknowledged only when every part is.
 */
export function createJetStreamPublisher(options: {
  /** Connected: the publisher follows it from here on. */
  nc: NatsConnection;
  subject: string;
  timeoutMs: number;
  maxInFlight: number;
}): EventPublisher & {
  /** Stops following the connection; every publish still awaiting its PubAck, and every later one, fails. */
  close(): void;
} {
  const { nc, subject } = options;
  const inbox = createInbox();
  const pending = pendingAcks(options.timeoutMs);
  // Not natsConnected(nc): it knows only connections made by connectNats (false for any other, which would refuse
  // every publish) and lags behind the status events, which the listener below receives from here on anyway.
  let connected = !nc.isClosed();
  let closed = false;
  // Publishes from requests handled in the same event-loop turn go out in one socket write: nats.js flushes
  // after each macrotask, which was one write syscall per request.
  let queued: Array<() => void> = [];
  const flushQueued = () => {
    const batch = queued;
    queued = [];
    for (const send of batch) send();
  };

  const replies = nc.subscribe(`${inbox}.*`, {
    callback: (err, msg) => {
      if (err) return;
      const token = msg.subject.slice(inbox.length + 1);
      const waiter = pending.take(token);
      if (!waiter) return;
      const answer = readPubAck(msg);
      if (!(answer instanceof PublishError)) {
        waiter.resolve(answer);
        return;
      }
      waiter.reject(answer);
      if (answer.reason === "no_responders") pending.fail(leaderLost, token);
    },
  });

  const connection: ConnectionEvents = {
    down: () => {
      connected = false;
      pending.fail(connectionLost);
    },
    up: () => {
      connected = true;
    },
    clusterChanged: () => pending.fail(clusterChanged),
  };
  // Typed as an AsyncIterable, but nats.js returns its QueuedIterator: stop() ends the loop and unregisters it.
  const statuses = nc.status() as QueuedIterator<Status>;
  void followConnection(statuses, connection, () => closed);

  function publishMessage(payload: Uint8Array, eventCount: number, msgId: string, requestId: string): Promise<Ack> {
    if (!connected) {
      return Promise.reject(
        closed ? publisherClosed() : new PublishError("not connected to NATS", { reason: "disconnected" }),
      );
    }
    if (pending.size >= options.maxInFlight) {
      const message = `${options.maxInFlight} publishes already await a PubAck`;
      return Promise.reject(new PublishError(message, { reason: "overloaded" }));
    }
    const { promise, resolve, reject } = Promise.withResolvers<Ack>();
    const token = pending.add(resolve, reject);
    const h = headers();
    h.set("Nats-Msg-Id", msgId);
    h.set(messageHeaders.requestId, requestId);
    h.set(messageHeaders.eventCount, String(eventCount));
    if (queued.length === 0) setImmediate(flushQueued);
    queued.push(() => {
      // Failed since, with every other publish awaiting a PubAck; nats.js would only buffer it.
      if (!connected) return;
      try {
        nc.publish(subject, payload, { reply: `${inbox}.${token}`, headers: h });
      } catch (err) {
        pending.take(token);
        reject(new PublishError(`publish failed: ${(err as Error).message}`, { reason: "refused", cause: err }));
      }
    });
    return promise;
  }

  async function publish(events: readonly EnvelopeEvent[], requestId: string): Promise<Published> {
    const payload = encodeEnvelope(events);
    // Headers and subject need room too.
    if (payload.length > (nc.info?.max_payload ?? 1024 * 1024) - 1024 && events.length > 1) {
      const half = Math.ceil(events.length / 2);
      // A retry of a request of which only one half was stored before: the other half is new.
      const parts = await Promise.all([
        publish(events.slice(0, half), requestId),
        publish(events.slice(half), requestId),
      ]);
      return { newEvents: parts[0].newEvents + parts[1].newEvents };
    }
    const ack = await publishMessage(payload, events.length, envelopeMessageId(events), requestId);
    return { newEvents: ack.duplicate ? 0 : events.length };
  }

  return {
    publish,
    close: () => {
      closed = true;
      // Refuses new publishes and skips queued ones, which the fail below settles.
      connected = false;
      statuses.stop();
      pending.close();
      pending.fail(publisherClosed);
      replies.unsubscribe();
    },
  };
}
