import { type DeadLetterReason, deadLetterReasons } from "@evpipe/shared";

/** The DLQ stream's state as one stream info gave it. */
export interface DlqState {
  firstSeq: number;
  lastSeq: number;
  messages: number;
}

/** What the next tally step reads, decided from what was read before and the stream as it is now. */
export type TallyPlan =
  /** More dead letters than the gateway tallies: answer null, keep nothing. */
  | { kind: "overCap" }
  /** Read [from, to] (nothing when from > to) after forgetting everything, or only what is below `forgetBelow`. */
  | { kind: "read"; restart: boolean; forgetBelow: number; from: number; to: number };

/**
 * The reading to do: only the sequences after the last one read, once those the stream no longer holds (aged
 * out, or removed from its start) are forgotten. A stream whose last sequence went back was made anew: start over.
 */
export function planTally(readTo: number, state: DlqState, cap: number): TallyPlan {
  if (state.messages > cap) return { kind: "overCap" };
  const restart = state.lastSeq < readTo;
  const from = restart ? state.firstSeq : Math.max(readTo + 1, state.firstSeq);
  return { kind: "read", restart, forgetBelow: state.firstSeq, from, to: state.lastSeq };
}

/**
 * Whether the tally must be read again from the stream's start: it holds a dead letter the stream no longer has
 * (a replay or purge deleted one inside the stream), or misses one. Compared against the same stream info the
 * read stopped at, so dead letters stored since do not count.
 */
export const needsRecount = (kept: number, state: DlqState): boolean => kept !== state.messages;

/**
 * Why each dead letter read so far failed, by sequence. Kept in sequence order (read oldest first), so the
 * ones below a new first sequence are found at its start.
 */
export class DeadLetterTally {
  #reasons = new Map<number, string>();
  #counts = new Map<string, number>();
  #readTo = 0;

  /** The last sequence read (0 before any). */
  get readTo(): number {
    return this.#readTo;
  }

  get size(): number {
    return this.#reasons.size;
  }

  add(seq: number, reason: string): void {
    if (this.#reasons.has(seq)) return;
    this.#reasons.set(seq, reason);
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + 1);
    this.#readTo = Math.max(this.#readTo, seq);
  }

  /** The range was read to `seq` (its last dead letters may have been deleted meanwhile). */
  readUpTo(seq: number): void {
    this.#readTo = Math.max(this.#readTo, seq);
  }

  forgetBelow(firstSeq: number): void {
    for (const [seq, reason] of this.#reasons) {
      if (seq >= firstSeq) return;
      this.#reasons.delete(seq);
      this.#counts.set(reason, (this.#counts.get(reason) ?? 1) - 1);
    }
  }

  clear(): void {
    this.#reasons.clear();
    this.#counts.clear();
    this.#readTo = 0;
  }

  /** The two reasons the writer dead-letters for; a dead letter with another (or none) is in neither. */
  byReason(): Record<DeadLetterReason, number> {
    const entries = deadLetterReasons.map((reason) => [reason, this.#counts.get(reason) ?? 0] as const);
    return Object.fromEntries(entries) as Record<DeadLetterReason, number>;
  }
}
