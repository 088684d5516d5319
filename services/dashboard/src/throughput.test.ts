import { describe, expect, it } from "vitest";
import { addSample, emptyHistory } from "./throughput.ts";

const at = (second: number) => new Date(Date.UTC(2026, 10, 23, 12, 0, second)).toISOString();
const base = Date.UTC(2026, 10, 23, 12, 0, 0) / 1000;

describe("the live rate history", () => {
  it("keeps the newest samples, oldest first", () => {
    let history = emptyHistory();
    for (let second = 0; second < 5; second++) {
      history = addSample(history, { sampledAt: at(second), accepted: second, stored: null }, 3);
    }
    expect(history).toEqual({
      seconds: [base + 2, base + 3, base + 4],
      accepted: [2, 3, 4],
      stored: [null, null, null],
    });
  });

  it("ignores the same sample read twice, and one older than the last", () => {
    const once = addSample(emptyHistory(), { sampledAt: at(5), accepted: 1, stored: 1 }, 10);
    expect(addSample(once, { sampledAt: at(5), accepted: 1, stored: 1 }, 10)).toBe(once);
    expect(addSample(once, { sampledAt: at(4), accepted: 9, stored: 9 }, 10)).toBe(once);
    expect(addSample(once, { sampledAt: "yesterday", accepted: 9, stored: 9 }, 10)).toBe(once);
  });
});
