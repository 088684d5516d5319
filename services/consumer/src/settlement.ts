import type { Failure } from "@evpipe/db";
import type { DeadLetter, DeadLetterReason, EnvelopeEvent, FailureHistory } from "@evpipe/shared";
import { maxAttempts, retryDelayMs } from "./retry-policy.ts";

/** One delivery of an EVENTS message, as the writer read it. */
export type Delivery =
  | { kind: "readable"; events: readonly EnvelopeEvent[]; history: FailureHistory }
  | { kind: "unreadable"; failure: Failure; history: FailureHistory };

/** What the write of a batch of deliveries came to. */
export type WriteOutcome =
  /** Each event that failed, with why; every other event is stored (now or by an earlier delivery). */
  | { kind: "written"; failures: ReadonlyMap<string, Failure> }
  /**
   * Not the data's fault (the database is unreachable, a bug, or a lookup that failed): the write stopped.
   * Parts that a split had already committed are found stored on the redelivery.
   */
  | { kind: "halted"; failure: Failure };

/**
 * A message's fate, carried out by settle-executor.ts. Dead letters are always published (and acknowledged
 * by the DLQ stream) before the message is settled.
 */
export type Settlement =
  | { kind: "ack"; forgetHistory: boolean }
  /** Back to the stream without counting an attempt; after a transient halt, with a delay (no hot loop). */
  | { kind: "giveBack"; failure: Failure; delayMs: number }
  /** Publish the permanent failures' dead letters, remember the history, then nak(delayMs). */
  | {
      kind: "retry";
      delayMs: number;
      deadLetters: DeadLetter[];
      history: FailureHistory;
      /** The first transient failure, and how many events failed in all. */
      failure: Failure;
      failedCount: number;
    }
  /** Publish the dead letters, then ack (something of the message is stored) or term (nothing is). */
  | { kind: "deadLetter"; letters: DeadLetter[]; finish: "ack" | "term"; retryDelayMs: number; forgetHistory: boolean };

export interface SettleContext {
  now: Date;
  retryDelayUnitMs: number;
}

function lettersFor(
  failing: ReadonlyArray<{ event: EnvelopeEvent; failure: Failure }>,
  attempt: number,
  firstFailureAt: Date,
  now: Date,
): DeadLetter[] {
  // One dead letter per reason and code, so each says exactly why its events failed.
  const groups = new Map<string, DeadLetter & { events: EnvelopeEvent[] }>();
  for (const { event, failure } of failing) {
    const reason: DeadLetterReason = failure.kind === "permanent" ? "permanent_error" : "retries_exhausted";
    const key = `${reason}/${failure.code}`;
    const letter = groups.get(key) ?? {
      reason,
      errorCode: failure.code,
      errorMessage: failure.message,
      events: [],
      attempts: attempt,
      firstFailureAt: reason === "permanent_error" ? now : firstFailureAt,
      lastFailureAt: now,
    };
    letter.events.push(event);
    groups.set(key, letter);
  }
  return [...groups.values()];
}

/**
 * Decides what becomes of one delivery: pure, so the whole policy is a table of unit tests. Each failing
 * event goes its own way: a permanent failure is dead-lettered on the delivery that met it, transient ones
 * are retried with 3^n backoff until the 6th failed delivery, and what an earlier delivery stored or
 * dead-lettered is left alone.
 */
export function settle(delivery: Delivery, outcome: WriteOutcome, context: SettleContext): Settlement {
  const { history } = delivery;
  const attempt = history.failures + 1;
  const firstFailureAt = history.firstFailureAt ? new Date(history.firstFailureAt) : context.now;
  const delayMs = retryDelayMs(attempt, context.retryDelayUnitMs);
  if (delivery.kind === "unreadable") {
    const letter: DeadLetter = {
      reason: "permanent_error",
      errorCode: delivery.failure.code,
      errorMessage: delivery.failure.message,
      events: undefined,
      attempts: attempt,
      firstFailureAt: context.now,
      lastFailureAt: context.now,
    };
    const forgetHistory = history.failures > 0;
    return { kind: "deadLetter", letters: [letter], finish: "term", retryDelayMs: delayMs, forgetHistory };
  }
  if (outcome.kind === "halted") {
    // An outage or a bug stops pulling, so the message is not redelivered until the consumer resumes.
    const giveBackMs = outcome.failure.kind === "transient" ? retryDelayMs(1, context.retryDelayUnitMs) : 0;
    return { kind: "giveBack", failure: outcome.failure, delayMs: giveBackMs };
  }

  const deadLettered = new Set(history.deadLettered);
  const failing: Array<{ event: EnvelopeEvent; failure: Failure }> = [];
  for (const event of delivery.events) {
    const failure = outcome.failures.get(event.id);
    if (failure && !deadLettered.has(event.id)) failing.push({ event, failure });
  }
  const hadHistory = history.failures > 0 || deadLettered.size > 0;
  if (failing.length === 0) return { kind: "ack", forgetHistory: hadHistory };

  const permanent = failing.filter(({ failure }) => failure.kind === "permanent");
  const transient = failing.filter(({ failure }) => failure.kind !== "permanent");
  if (transient.length > 0 && attempt < maxAttempts) {
    return {
      kind: "retry",
      delayMs,
      deadLetters: lettersFor(permanent, attempt, firstFailureAt, context.now),
      history: {
        failures: attempt,
        firstFailureAt: firstFailureAt.toISOString(),
        deadLettered: [...history.deadLettered, ...permanent.map(({ event }) => event.id)],
      },
      failure: (transient[0] as (typeof transient)[number]).failure,
      failedCount: failing.length,
    };
  }
  const failingIds = new Set(failing.map(({ event }) => event.id));
  const storedAny = delivery.events.some((event) => !failingIds.has(event.id) && !deadLettered.has(event.id));
  return {
    kind: "deadLetter",
    letters: lettersFor(failing, attempt, firstFailureAt, context.now),
    finish: storedAny ? "ack" : "term",
    retryDelayMs: delayMs,
    forgetHistory: hadHistory,
  };
}
