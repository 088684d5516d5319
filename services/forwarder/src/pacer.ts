import { setTimeout as sleep } from "node:timers/promises";

/**
 * A destination's `--rate`: requests spaced at least 1/rate seconds apart, in the order they asked; no limit
 * when the rate is absent. Waiting here holds the request's messages, which tell JetStream they are working.
 */
export function requestPacer(rate: number | undefined): () => Promise<void> {
  if (rate === undefined) return () => Promise.resolve();
  const intervalMs = 1000 / rate;
  let next = 0;
  return async () => {
    const now = performance.now();
    const at = Math.max(now, next);
    next = at + intervalMs;
    if (at > now) await sleep(at - now);
  };
}
