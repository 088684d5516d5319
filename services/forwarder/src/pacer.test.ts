import { describe, expect, it } from "vitest";
import { requestPacer } from "./pacer.ts";

describe("requestPacer", () => {
  it("spaces requests 1/rate apart, in the order they asked", async () => {
    const pace = requestPacer(50);
    const started = performance.now();
    const order: number[] = [];
    await Promise.all(Array.from({ length: 6 }, (_, i) => pace().then(() => order.push(i))));
    // Five gaps of 20 ms: the first request goes at once.
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
