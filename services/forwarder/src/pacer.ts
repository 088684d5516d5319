import { setTimeout as sleep } from "node:timers/promises";

/**
 * A destination's `--rate`: requests sent at least 1/rate seconds apart, measured when each actually goes (a
 * stalled event loop waking two waiters at once does not let both through); no limit when the rate is absent.
 * Waiting here holds the request's messages, which the worker keeps alive. Rejects when `signal` aborts.
 */
export function requestPacer(rate: number | undefined): (signal: AbortSignal) => Promise<void> {
  if (rate === undefined) return () => Promise.resolve();
  const intervalMs = 1000 / rate;
  let next = 0;
  return async (signal) => {
    for (;;) {
      const now = performance.now();
      if (now >= next) {
        next = now + intervalMs;
        return;
      }
      await sleep(next - now, undefined, { signal });
    }
  };
}
