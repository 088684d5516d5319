import { classifyFailure, type Failure } from "@evpipe/db";
import type { EnvelopeEvent } from "@evpipe/shared";
import type { WriteOutcome } from "./settlement.ts";

/** Raised out of a write when the failure is not the data's: the whole write goes back to the stream. */
class WriteHalted extends Error {
  readonly failure: Failure;

  constructor(failure: Failure, cause: unknown) {
    super(failure.message, { cause });
    this.failure = failure;
  }
}

async function storeOrSplit(
  store: (events: readonly EnvelopeEvent[]) => Promise<void>,
  events: readonly EnvelopeEvent[],
  failures: Map<string, Failure>,
): Promise<void> {
  try {
    if (events.length > 0) await store(events);
  } catch (err) {
    const failure = classifyFailure(err);
    if (failure.kind === "outage" || failure.kind === "bug") throw new WriteHalted(failure, err);
    if (events.length === 1) {
      failures.set((events[0] as EnvelopeEvent).id, failure);
      return;
    }
    const half = Math.ceil(events.length / 2);
    await storeOrSplit(store, events.slice(0, half), failures);
    await storeOrSplit(store, events.slice(half), failures);
  }
}

/**
 * Writes the events, splitting a failed write in halves down to single events, so healthy events are stored
 * and only the failing ones are reported, each with its own failure. An outage or a bug halts the write.
 */
export async function writeIsolating(
  store: (events: readonly EnvelopeEvent[]) => Promise<void>,
  events: readonly EnvelopeEvent[],
): Promise<WriteOutcome> {
  const failures = new Map<string, Failure>();
  try {
    await storeOrSplit(store, events, failures);
  } catch (err) {
    return { kind: "halted", failure: err instanceof WriteHalted ? err.failure : classifyFailure(err) };
  }
  return { kind: "written", failures };
}
