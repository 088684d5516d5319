import { type DeadLetter, encodeDeadLetter, type Logger, messageHeaders } from "@evpipe/shared";
import type { JetStreamClient, JsMsg } from "nats";
import type { HistoryStore } from "./failure-history.ts";
import type { Settlement } from "./settlement.ts";

export interface ExecutorDeps {
  js: JetStreamClient;
  dlqSubject: string;
  history: HistoryStore;
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
  try {
    for (const letter of letters) {
      const { data, headers, msgID } = encodeDeadLetter(letter, origin);
      await deps.js.publish(deps.dlqSubject, data, { msgID, headers, timeout: 5000 });
    }
  } catch (err) {
    log.error({ err }, "dead-letter publish failed, message returned");
    return false;
  }
  for (const letter of letters) {
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

function forget(deps: ExecutorDeps, msg: JsMsg, log: Logger): void {
  deps.history.forget(msg.info.streamSequence).catch((err: unknown) => {
    // Harmless: the bucket's TTL removes it, and its stream sequence is never delivered again.
    log.warn({ err }, "could not forget a settled message's failure history");
  });
}

/** Carries out a settlement against NATS: the only place a message is acked, nak'ed or terminated. */
export async function carryOut(deps: ExecutorDeps, msg: JsMsg, settlement: Settlement, log: Logger): Promise<void> {
  switch (settlement.kind) {
    case "ack":
      msg.ack();
      if (settlement.forgetHistory) forget(deps, msg, log);
      return;
    case "giveBack":
      msg.nak();
      return;
    case "retry": {
      if (!(await publishDeadLetters(deps, msg, settlement.deadLetters, log))) {
        msg.nak(settlement.delayMs);
        return;
      }
      await deps.history.write(msg.info.streamSequence, settlement.history).catch((err: unknown) => {
        // The attempt goes uncounted (one retry more) and a dead letter may be published again, which
        // its message id deduplicates inside the duplicate window; nothing is lost.
        log.warn({ err }, "could not record the failure history");
      });
      msg.nak(settlement.delayMs);
      const { failure, delayMs, history, failedCount } = settlement;
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
      if (settlement.finish === "ack") msg.ack();
      else msg.term();
      if (settlement.forgetHistory) forget(deps, msg, log);
      return;
  }
}
