import { type DeadLetter, encodeDeadLetter, type HistoryStore, type Logger, messageHeaders } from "@evpipe/shared";
import type { JetStreamClient, JsMsg } from "nats";
import type { WriterMetrics } from "./metrics.ts";
import type { Settlement } from "./settlement.ts";

export interface ExecutorDeps {
  js: JetStreamClient;
  dlqSubject: string;
  history: HistoryStore;
  /** Counts retries and dead letters as they are carried out; absent when metrics are off. */
  metrics?: Pick<WriterMetrics, "retries" | "deadLetters">;
  /** Test seam: runs after the dead letters' PubAck and before the original is settled. */
  afterDeadLetter?: () => void;
}

/** Publishes every dead letter and waits for each PubAck; false when the DLQ did not take them all. */
async function publishDeadLetters(deps: ExecutorDeps, msg: JsMsg, letters: DeadLetter[], log: Logger) {
  const origin = {
    stream: msg.info.stream,
    seq: msg.info.streamSequence,
    requestId: msg.headers?.get(messageHeaders.requestId) || undefined,
    data: msg.data,
  };
  // A letter the DLQ already held (published by an earlier delivery that crashed before settling) is not
  // counted again.
  const duplicates = new Set<DeadLetter>();
  try {
    for (const letter of letters) {
      const { data, headers, msgID } = encodeDeadLetter(letter, origin);
      const ack = await deps.js.publish(deps.dlqSubject, data, { msgID, headers, timeout: 5000 });
      if (ack.duplicate) duplicates.add(letter);
    }
  } catch (err) {
    log.error({ err }, "dead-letter publish failed, message returned");
    return false;
  }
  for (const letter of letters) {
    if (!duplicates.has(letter)) deps.metrics?.deadLetters.labels(letter.reason, letter.errorCode || "unknown").inc();
    log.warn(
      {
        outcome: "dead_lettered",
        reason: letter.reason,
        errorCode: letter.errorCode,
        error: letter.errorMessage,
        attempts: letter.attempts,
        eventCount: letter.events?.length,
      },
      "events dead-lettered",
    );
  }
  if (letters.length > 0) deps.afterDeadLetter?.();
  return true;
}

/** Well inside the DLQ stream's duplicate window (at least 2 minutes). */
const historyLostRetryMs = 30_000;

/**
 * Acks, and forgets the message's history only once the server confirmed the ack: a lost ack with the
 * history gone would start its attempts over. A message without history is acked without waiting.
 */
async function acknowledge(deps: ExecutorDeps, msg: JsMsg, forgetHistory: boolean, log: Logger): Promise<void> {
  if (!forgetHistory) {
    msg.ack();
    return;
  }
  try {
    await msg.ackAck();
    await deps.history.forget(msg.info.streamSequence);
  } catch (err) {
    // Harmless: the bucket's TTL removes it, and a settled stream sequence is never delivered again.
    log.warn({ err }, "could not confirm the ack or forget the failure history");
  }
}

/** Carries out a settlement against NATS: the only place a message is acked, nak'ed or terminated. */
export async function carryOut(deps: ExecutorDeps, msg: JsMsg, settlement: Settlement, log: Logger): Promise<void> {
  switch (settlement.kind) {
    case "ack":
      await acknowledge(deps, msg, settlement.forgetHistory, log);
      return;
    case "giveBack":
      msg.nak(settlement.delayMs || undefined);
      return;
    case "retry": {
      if (!(await publishDeadLetters(deps, msg, settlement.deadLetters, log))) {
        msg.nak(settlement.delayMs);
        return;
      }
      const recorded = await deps.history
        .write(msg.info.streamSequence, settlement.history)
        .then(() => true)
        .catch((err: unknown) => {
          log.warn({ err }, "could not record the failure history");
          return false;
        });
      // Unrecorded, the attempt goes uncounted and this delivery's dead letters will be published again: soon
      // enough that the DLQ's duplicate window drops them.
      msg.nak(recorded ? settlement.delayMs : Math.min(settlement.delayMs, historyLostRetryMs));
      const { failure, delayMs, history, failedCount } = settlement;
      deps.metrics?.retries.labels(failure.code || "unknown").inc();
      log.warn(
        {
          outcome: "retrying",
          attempt: history.failures,
          delayMs,
          errorCode: failure.code,
          error: failure.message,
          failedCount,
        },
        "message retrying",
      );
      return;
    }
    case "deadLetter":
      if (!(await publishDeadLetters(deps, msg, settlement.letters, log))) {
        // Never lose it: the message comes back and is dead-lettered once the DLQ takes it.
        msg.nak(settlement.retryDelayMs);
        return;
      }
      if (settlement.finish === "ack") await acknowledge(deps, msg, settlement.forgetHistory, log);
      // A lost term() redelivers the message with its history intact, within the duplicate window.
      else msg.term();
      return;
  }
}
