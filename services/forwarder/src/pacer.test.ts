import { describe, expect, it } from "vitest";
import { requestPacer } from "./pacer.ts";

describe("requestPacer", () => {
  it("spaces requests at least 1/rate apart, measured when each goes", async () => {
    const pace = requestPacer(50);
    const signal = new AbortController().signal;
    const sentAt: number[] = [];
    await Promise.all(Array.from({ length: 6 }, () => pace(signal).then(() => sentAt.push(performance.now()))));
    const gaps = sentAt.slice(1).map((at, i) => at - (sentAt[i] as number));
    // 20 ms apart at 50 per second; timers may fire a little late, never early.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(19);
  });

  it("lets a stop interrupt a wait", async () => {
    const pace = requestPacer(0.01);
    const stop = new AbortController();
    await pace(stop.signal);
    const waiting = pace(stop.signal);
    stop.abort();
    await expect(waiting).rejects.toThrow(/abort/i);
  });
});
