import { describe, expect, it } from "vitest";
import { retentionInk, retentionRows, retentionShade } from "./retention.ts";

describe("the retention grid", () => {
  it("turns counts into shares of the cohort, and days still to come into future cells", () => {
    const rows = retentionRows(
      [
        { cohort: "2026-11-01", users: 4, retained: [4, 2, 1, 0] },
        { cohort: "2026-11-02", users: 0, retained: [0, 0, 0, 0] },
      ],
      "2026-11-03",
    );
    expect(rows[0]?.cells).toEqual([
      { kind: "share", retained: 4, share: 1 },
      { kind: "share", retained: 2, share: 0.5 },
      { kind: "share", retained: 1, share: 0.25 },
      { kind: "future" },
    ]);
    expect(rows[1]?.cells.map((cell) => cell.kind)).toEqual(["share", "share", "future", "future"]);
    expect(rows[1]?.cells[0]).toEqual({ kind: "share", retained: 0, share: 0 });
  });

  it("shades darker as more are retained, blank for none, visible for a sliver", () => {
    expect(retentionShade(0)).toBe("transparent");
    expect(retentionShade(0.002)).toBe("rgb(29 78 216 / 0.08)");
    expect(retentionShade(0.5)).toBe("rgb(29 78 216 / 0.54)");
    expect(retentionShade(1)).toBe("rgb(29 78 216 / 1.00)");
  });

  it("writes every share in black or white, whichever reads at 4.5:1 or better", () => {
    expect(retentionInk(0.1).ink).toBe("dark");
    expect(retentionInk(1).ink).toBe("light");
    for (let percent = 0; percent <= 100; percent++) {
      expect(retentionInk(percent / 100).contrast, `${percent}%`).toBeGreaterThanOrEqual(4.5);
    }
  });
});
