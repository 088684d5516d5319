/** The 6th failed delivery goes to the dead-letter queue (PRODUCT.md §4). */
export const maxAttempts = 6;

/** 3^n units after the n-th failed attempt (3, 9, 27, 81, 243 s by default). */
export function retryDelayMs(attempt: number, unitMs: number): number {
  return 3 ** Math.min(Math.max(attempt, 1), maxAttempts - 1) * unitMs;
}
