import type { Logger } from "@evpipe/shared";
import type { PipelineSummary } from "@evpipe/shared/api-responses";
import type { JetStreamSample } from "./jetstream-sample.ts";

/** What GET /v1/pipeline answers from. */
export interface PipelineSummarySource {
  /** How often the JetStream part is renewed at most. */
  readonly refreshMs: number;
  /** The summary, or undefined when JetStream cannot be read now: never sampled, or the last good sample is too old. */
  summary(): Promise<PipelineSummary | undefined>;
}

/** How long a sample may take, and how old the last good one may be before it is no longer served. */
export interface SamplingBounds {
  timeoutMs: number;
  staleAfterMs: number;
}

/**
 * A few refreshes' worth, with floors in seconds: a sample is one round trip per stream plus a read of new dead
 * letters, and a short interval must not turn one slow JetStream answer into a 503.
 */
export const samplingBoundsOf = (refreshMs: number): SamplingBounds => ({
  timeoutMs: Math.max(5000, 2 * refreshMs),
  staleAfterMs: Math.max(10_000, 5 * refreshMs),
});

/** Whether the last good sample, taken at `sampledAt`, may still be served at `now`. */
export const servable = (sampledAt: number | undefined, now: number, staleAfterMs: number): boolean =>
  sampledAt !== undefined && now - sampledAt <= staleAfterMs;

export interface SummarySourceDeps {
  /** One sample of JetStream; once `signal` aborts (the sample timed out), it must change no shared state. */
  sample: (signal: AbortSignal) => Promise<JetStreamSample>;
  /** The rates and instances, from memory. */
  ingest: (now: number) => PipelineSummary["ingest"];
  refreshMs: number;
  log: Logger;
  /** samplingBoundsOf(refreshMs) unless given. */
  bounds?: SamplingBounds;
}

/** The sample, or a rejection once `timeoutMs` passed, after aborting it. */
async function sampleWithin(sample: SummarySourceDeps["sample"], timeoutMs: number): Promise<JetStreamSample> {
  const controller = new AbortController();
  const { promise: timedOut, reject } = Promise.withResolvers<never>();
  const timer = setTimeout(() => {
    const err = new Error(`no sample within ${timeoutMs} ms`);
    controller.abort(err);
    reject(err);
  }, timeoutMs);
  try {
    return await Promise.race([sample(controller.signal), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Samples JetStream lazily and one sample at a time: a call answers with the last sample and starts a new one
 * when the last attempt is older than refreshMs, so a burst of calls costs at most one sample, and nobody
 * asking costs nothing. A sample is abandoned after timeoutMs (aborted, so it stops touching the dead-letter
 * tally before the next one starts). A failed sample keeps the last one (its sampled_at shows its age) and
 * warns once per run of failures; once the last good one is older than staleAfterMs it is no longer served.
 * A caller with nothing servable waits for the sample under way, which the timeout bounds.
 */
export function createPipelineSummaries(deps: SummarySourceDeps): PipelineSummarySource {
  const now = Date.now;
  const bounds = deps.bounds ?? samplingBoundsOf(deps.refreshMs);
  let last: { sample: JetStreamSample; at: number } | undefined;
  let running: Promise<void> | undefined;
  let attemptedAt = Number.NEGATIVE_INFINITY;
  let failing = false;

  const take = async () => {
    const at = now();
    try {
      last = { sample: await sampleWithin(deps.sample, bounds.timeoutMs), at };
      if (failing) deps.log.info("pipeline sampling recovered");
      failing = false;
    } catch (err) {
      if (!failing) deps.log.warn({ err }, "could not sample the pipeline; answering with the last sample");
      failing = true;
    }
  };

  return {
    refreshMs: deps.refreshMs,
    async summary() {
      if (!running && now() - attemptedAt >= deps.refreshMs) {
        attemptedAt = now();
        // `.finally` runs after the assignment, even when the sample fails at once.
        running = take().finally(() => {
          running = undefined;
        });
      }
      if (!servable(last?.at, now(), bounds.staleAfterMs)) await running;
      if (!last || !servable(last.at, now(), bounds.staleAfterMs)) return undefined;
      return {
        sampled_at: new Date(last.at).toISOString(),
        refresh_ms: deps.refreshMs,
        ingest: deps.ingest(now()),
        ...last.sample,
      };
    },
  };
}
