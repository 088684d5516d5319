/** What came of one request to a vendor. */
export type DeliveryOutcome =
  | {
      kind: "answered";
      status: number;
      /** The vendor's Retry-After header, as sent. */
      retryAfter?: string | null;
      /** For a partial refusal (Vendor.refusedIds): the events refused; the others were taken. */
      refusedIds?: readonly string[];
    }
  /** No answer: a refused connection, a reset, a timeout. */
  | { kind: "unreachable"; error: string };

export type DeliveryDecision =
  | { kind: "delivered" }
  | { kind: "retry"; delayMs: number; reason: string }
  | {
      kind: "deadLetter";
      reason: "permanent_error" | "retries_exhausted";
      detail: string;
      /** Only these events, when the vendor took the others; every event of the batch when absent. */
      ids?: readonly string[];
    };

export interface RetryPolicy {
  /** The delay after failed attempt n is 3^n units (PRODUCT.md §4: the writer's policy). */
  unitMs: number;
  /** Retries before the events are dead-lettered; 5 by default, as the writer's. */
  maxRetries: number;
}

/** The delay a Retry-After asks for, in seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** 408, 429 and 5xx: answers that may pass, so the request is tried again. */
export const isTransient = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * What becomes of a batch after one attempt (`attempt` counts from 1), as a value the forwarder carries out
 * against NATS: `429`, `408`, `5xx` and no answer are retried after 3^attempt units, or the vendor's
 * Retry-After when it asks for longer, until the retries are spent; any other `4xx` is permanent and
 * dead-letters at once, only the refused events when the vendor says which.
 */
export function deliveryDecision(
  outcome: DeliveryOutcome,
  attempt: number,
  policy: RetryPolicy,
  nowMs: number,
): DeliveryDecision {
  if (outcome.kind === "answered" && outcome.status >= 200 && outcome.status < 300) return { kind: "delivered" };
  const detail = outcome.kind === "answered" ? `HTTP ${outcome.status}` : outcome.error;
  if (outcome.kind === "answered" && !isTransient(outcome.status)) {
    return {
      kind: "deadLetter",
      reason: "permanent_error",
      detail,
      ...(outcome.refusedIds ? { ids: outcome.refusedIds } : {}),
    };
  }
  if (attempt > policy.maxRetries) return { kind: "deadLetter", reason: "retries_exhausted", detail };
  const backoff = 3 ** attempt * policy.unitMs;
  const asked = outcome.kind === "answered" ? retryAfterMs(outcome.retryAfter, nowMs) : undefined;
  return { kind: "retry", delayMs: Math.max(backoff, asked ?? 0), reason: detail };
}
