/** One reading of the pipeline summary's ingest rates. */
export interface RateSample {
  sampledAt: string;
  accepted: number | null;
  stored: number | null;
}

/** What the live chart shows: the last `keep` distinct samples, oldest first, as uPlot's columns. */
export interface RateHistory {
  seconds: number[];
  accepted: (number | null)[];
  stored: (number | null)[];
}

export const emptyHistory = (): RateHistory => ({ seconds: [], accepted: [], stored: [] });

/**
 * Adds a sample unless it is the one already seen last: polling faster than the gateway samples returns the
 * same summary again, which must not draw a flat step. A sample older than the last (a clock step back, or a
 * gateway behind a balancer that sampled earlier) is dropped, so the x values stay ascending, as uPlot needs.
 */
export function addSample(history: RateHistory, sample: RateSample, keep: number): RateHistory {
  const seconds = Date.parse(sample.sampledAt) / 1000;
  const last = history.seconds.at(-1);
  if (Number.isNaN(seconds) || (last !== undefined && seconds <= last)) return history;
  const from = Math.max(0, history.seconds.length + 1 - keep);
  return {
    seconds: [...history.seconds, seconds].slice(from),
    accepted: [...history.accepted, sample.accepted].slice(from),
    stored: [...history.stored, sample.stored].slice(from),
  };
}
