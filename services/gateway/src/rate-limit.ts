import { type ApiKeyRecord, defaultKeyRate } from "@evpipe/shared";

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per key, in memory: checking costs no I/O. Each gateway instance enforces the full rate on
 * its own (see ADR.md).
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** 0 when the request may go ahead (and is counted), else the milliseconds until it could. */
  take(key: ApiKeyRecord): number {
    const rate = key.rate ?? defaultKeyRate;
    const burst = key.burst ?? rate * 2;
    const now = this.#now();
    const bucket = this.#buckets.get(key.id) ?? { tokens: burst, updatedAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rate);
    bucket.updatedAt = now;
    this.#buckets.set(key.id, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / rate) * 1000);
  }
}
