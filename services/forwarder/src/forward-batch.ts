import {
  type DeadLetterReason,
  type EnvelopeEvent,
  encodeDeadLetter,
  type HistoryStore,
  type Logger,
  messageHeaders,
  secondsSince,
} from "@evpipe/shared";
import type { JetStreamClient, JsMsg } from "nats";
import { attemptsKey } from "./attempts.ts";
import { deliver } from "./deliver.ts";
import { type DeliveryOutcome, deliveryDecision, isTransient, type RetryPolicy } from "./delivery-decision.ts";
import { type ForwarderMetrics, requestOutcome } from "./metrics.ts";
import type { StatusBoard } from "./status-board.ts";
import type { DeliveryTarget, Vendor } from "./vendors/index.ts";

/**
 * One message read for a destination: its events that pass the filter, with the bytes each takes in the message
 * (its share of the message's size), or why it could not be read.
 */
export type Pending = { msg: JsMsg; events: EnvelopeEvent[]; eventBytes: number } | { msg: JsMsg; unreadable: string };

export interface ForwardDeps {
  destination: string;
  /** The durable consumer's name: it tells this destination's dead letters from another's of the same message. */
  reader: string;
  vendor: Vendor;
  target: DeliveryTarget;
  policy: RetryPolicy;
  timeoutMs: number;
  js: JetStreamClient;
  dlqSubject: string;
  attempts: HistoryStore;
  status: StatusBoard;
  metrics: ForwarderMetrics | undefined;
  /** Resolves when the destination's rate allows one more request; rejects when the signal aborts. */
  throttle: (signal: AbortSignal) => Promise<void>;
  log: Logger;
  /**
   * Aborted when the destination stops (pause, remove, shutdown): requests waiting for their turn (`--rate`) are
   * not sent and their messages go back uncounted; requests already sent finish (within DELIVERY_TIMEOUT_MS).
   */
  signal: AbortSignal;
  /**
   * Prefix of the attempts bucket's keys: the destination and when it was added, so a destination removed and
   * added again under the same name does not inherit the old one's attempts.
   */
  attemptsScope: string;
}

interface VendorRequest {
  events: EnvelopeEvent[];
  members: Pending[];
}

/**
 * Requests of at most the vendor's batch size in events and in bytes, several messages' events to one request; a
 * message larger than a request is split over several, all of which must succeed for it to count as delivered.
 */
export function packRequests(
  items: readonly Pending[],
  limits: Pick<Vendor, "maxBatch" | "maxBatchBytes">,
): VendorRequest[] {
  const requests: VendorRequest[] = [];
  let current: VendorRequest = { events: [], members: [] };
  let bytes = 0;
  for (const item of items) {
    if (!("events" in item)) continue;
    for (const event of item.events) {
      const full = current.events.length === limits.maxBatch || bytes + item.eventBytes > limits.maxBatchBytes;
      if (current.events.length > 0 && full) {
        requests.push(current);
        current = { events: [], members: [] };
        bytes = 0;
      }
      current.events.push(event);
      bytes += item.eventBytes;
      if (current.members.at(-1) !== item) current.members.push(item);
    }
  }
  if (current.events.length > 0) requests.push(current);
  return requests;
}

/** What one request that carried some of a message's events came to, and which of its events it carried. */
export interface Share {
  outcome: DeliveryOutcome;
  ids: readonly string[];
}

/**
 * A message's outcome over the requests its events went in, as deliveryDecision reads it: any failure that may
 * pass retries the whole message (what was delivered is sent again, which the vendor's idempotency absorbs);
 * otherwise the events refused for good, whether a request refused all of them or named some of them, are the
 * refused ids of one permanent failure, and a message with none refused is delivered.
 */
export function messageOutcome(shares: readonly Share[]): DeliveryOutcome {
  const transient = shares.find(({ outcome }) => outcome.kind === "unreachable" || isTransient(outcome.status));
  if (transient) return transient.outcome;
  const failures = shares.filter(({ outcome }) => outcome.kind === "answered" && outcome.status >= 300);
  const first = failures[0]?.outcome;
  if (first?.kind !== "answered") return { kind: "answered", status: 200 };
  const refusedIds = failures.flatMap(({ outcome, ids }) => {
    const named = outcome.kind === "answered" ? outcome.refusedIds : undefined;
    return named ? ids.filter((id) => named.includes(id)) : ids;
  });
  if (refusedIds.length === 0) return { kind: "answered", status: 200 };
  return { ...first, refusedIds };
}

async function send(deps: ForwardDeps, events: readonly EnvelopeEvent[]): Promise<DeliveryOutcome> {
  await deps.throttle(deps.signal);
  const started = performance.now();
  const outcome = await deliver(deps.vendor, deps.target, events, { nowMs: Date.now(), timeoutMs: deps.timeoutMs });
  const destination = deps.destination;
  deps.metrics?.requestDuration.observe({ destination }, secondsSince(started));
  const status = outcome.kind === "answered" ? outcome.status : undefined;
  deps.metrics?.requests.inc({ destination, outcome: requestOutcome(status) });
  return outcome;
}

/**
 * Delivers a batch of messages to the destination's vendor and settles each message by what came of it: acked
 * when delivered, given back with a 3^n delay (or the vendor's Retry-After) when it may pass, dead-lettered on
 * this destination's own subject when it will not or the retries are spent. Never throws.
 */
export async function forwardBatch(deps: ForwardDeps, items: readonly Pending[]): Promise<void> {
  const shares = new Map<Pending, Share[]>();
  // Messages with a part not sent because the destination stopped (pause, remove, shutdown) while it waited for
  // its turn: given back uncounted. Requests already sent are answered and settled as usual.
  const unsent = new Set<Pending>();
  for (const request of packRequests(items, deps.vendor)) {
    const outcome = deps.signal.aborted ? undefined : await send(deps, request.events).catch(() => undefined);
    for (const member of request.members) {
      if (!outcome) {
        unsent.add(member);
        continue;
      }
      const mine = "events" in member ? new Set(member.events) : new Set();
      const ids = request.events.filter((event) => mine.has(event)).map((event) => event.id);
      shares.set(member, [...(shares.get(member) ?? []), { outcome, ids }]);
    }
  }
  for (const item of unsent) item.msg.nak();
  const fates = await Promise.all(
    items
      .filter((item) => !unsent.has(item))
      .map((item) =>
        settle(deps, item, shares.get(item)).catch((err: unknown): Fate => {
          // The NATS side failed (the DLQ publish, the attempts bucket): the message comes back, uncounted.
          deps.log.error({ err, destination: deps.destination, seq: item.msg.seq }, "could not settle a message");
          item.msg.nak(3 * deps.policy.unitMs);
          return { kind: "returned" };
        }),
      ),
  );
  logSummary(deps, fates);
}

type Fate = { kind: "delivered" | "returned" } | { kind: "retry"; delayMs: number; error: string; attempt: number };

/** One line per batch: how many messages went which way, and why the failing ones failed. */
function logSummary(deps: ForwardDeps, fates: readonly Fate[]): void {
  const count = (kind: Fate["kind"]) => fates.filter((fate) => fate.kind === kind).length;
  const retry = fates.find((fate) => fate.kind === "retry");
  const summary = { destination: deps.destination, messages: fates.length, delivered: count("delivered") };
  if (!retry) {
    deps.log.debug(summary, "batch forwarded");
    return;
  }
  deps.log.warn(
    { ...summary, retried: count("retry"), attempt: retry.attempt, delayMs: retry.delayMs, error: retry.error },
    "delivery failed, will retry",
  );
}

async function settle(deps: ForwardDeps, item: Pending, shares: readonly Share[] | undefined): Promise<Fate> {
  const { msg } = item;
  if ("unreadable" in item) {
    await deadLetter(deps, item, { reason: "permanent_error", code: "ENVELOPE_INVALID", detail: item.unreadable });
    msg.ack();
    return { kind: "delivered" };
  }
  // Every event filtered out: nothing to send.
  if (!shares) return done(deps, item, item.events.length, false);
  const outcome = messageOutcome(shares);
  const redelivered = msg.info.redeliveryCount > 1;
  const key = attemptsKey(deps.attemptsScope, msg.info.stream, msg.seq);
  const first = deliveryDecision(outcome, 1, deps.policy, Date.now());
  if (first.kind === "delivered") return done(deps, item, item.events.length, redelivered, key);
  // Read on every failure, not only on a redelivery: nats-server 2.9 can hand a message out again with a lower
  // delivery count (nats-server#5305, fixed in 2.10), which must not start its attempts from zero.
  const before = await deps.attempts.read(key);
  const attempt = before.failures + 1;
  const decision = attempt === 1 ? first : deliveryDecision(outcome, attempt, deps.policy, Date.now());
  if (decision.kind === "delivered") return done(deps, item, item.events.length, redelivered, key);
  if (decision.kind === "retry") {
    const firstFailureAt = before.firstFailureAt ?? now();
    await deps.attempts.write(key, { failures: attempt, firstFailureAt, deadLettered: [] });
    msg.nak(decision.delayMs);
    deps.metrics?.retries.inc({ destination: deps.destination });
    deps.status.retried(deps.destination, decision.reason);
    return { kind: "retry", delayMs: decision.delayMs, error: decision.reason, attempt };
  }
  const refused = decision.ids ? new Set(decision.ids) : undefined;
  const events = refused ? item.events.filter((event) => refused.has(event.id)) : item.events;
  const failure = { reason: decision.reason, code: errorCode(outcome), detail: decision.detail };
  if (events.length > 0) await deadLetter(deps, item, failure, events, attempt, before.firstFailureAt);
  return done(deps, item, item.events.length - events.length, redelivered, key);
}

const now = () => new Date().toISOString();

/** HTTP_400 for an answer; without one, the network error's code (ECONNREFUSED), TIMEOUT or UNREACHABLE. */
function errorCode(outcome: DeliveryOutcome): string {
  if (outcome.kind === "answered") return `HTTP_${outcome.status}`;
  if (/^[A-Z][A-Z0-9_]+$/.test(outcome.error)) return outcome.error;
  return outcome.error.startsWith("no answer within") ? "TIMEOUT" : "UNREACHABLE";
}

async function done(
  deps: ForwardDeps,
  item: Pending,
  delivered: number,
  redelivered: boolean,
  key?: string,
): Promise<Fate> {
  item.msg.ack();
  if (delivered > 0) {
    deps.metrics?.delivered.inc({ destination: deps.destination }, delivered);
    deps.metrics?.lastSuccess.set({ destination: deps.destination }, Date.now() / 1000);
    deps.status.delivered(deps.destination, delivered);
  }
  if (redelivered && key) await deps.attempts.forget(key);
  return { kind: "delivered" };
}

async function deadLetter(
  deps: ForwardDeps,
  item: Pending,
  failure: { reason: DeadLetterReason; code: string; detail: string },
  events?: readonly EnvelopeEvent[],
  attempts = 1,
  firstFailureAt?: string,
): Promise<void> {
  const { msg } = item;
  const at = new Date();
  const letter = encodeDeadLetter(
    {
      reason: failure.reason,
      errorCode: failure.code,
      errorMessage: failure.detail,
      events,
      attempts,
      firstFailureAt: firstFailureAt ? new Date(firstFailureAt) : at,
      lastFailureAt: at,
    },
    {
      stream: msg.info.stream,
      seq: msg.seq,
      requestId: msg.headers?.get(messageHeaders.requestId) || undefined,
      data: msg.data,
      reader: deps.reader,
    },
  );
  await deps.js.publish(deps.dlqSubject, letter.data, { msgID: letter.msgID, headers: letter.headers });
  const count = events?.length ?? 1;
  deps.metrics?.failed.inc({ destination: deps.destination, reason: failure.reason }, count);
  deps.status.failed(deps.destination, count, `${failure.code}: ${failure.detail}`);
  deps.log.error(
    { destination: deps.destination, seq: msg.seq, reason: failure.reason, errorCode: failure.code, events: count },
    "events dead-lettered for this destination",
  );
}
