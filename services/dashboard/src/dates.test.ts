import { describe, expect, it } from "vitest";
import { addDays, daysIn, isDay, lastDays, rangeProblem, utcDay } from "./dates.ts";

describe("UTC days", () => {
  it("takes the UTC day of an instant, not the local one", () => {
    expect(utcDay(Date.parse("2026-11-02T23:30:00-05:00"))).toBe("2026-11-03");
  });

  it("counts the last 30 days with today as the last", () => {
    const range = lastDays(30, Date.parse("2026-03-01T00:10:00Z"));
    expect(range).toEqual({ from: "2026-01-31", to: "2026-03-01" });
    expect(daysIn(range)).toBe(30);
  });

  it("steps across month and leap-year ends", () => {
    expect(addDays("2028-02-28", 1)).toBe("2028-02-29");
    expect(addDays("2026-01-01", -1)).toBe("2025-12-31");
  });

  it("knows a real day from a look-alike", () => {
    expect(isDay("2026-11-01")).toBe(true);
    expect(isDay("2026-02-30")).toBe(false);
    expect(isDay("2026-1-01")).toBe(false);
    expect(isDay("")).toBe(false);
  });

  it("refuses what the gateway would refuse", () => {
    expect(rangeProblem({ from: "2026-11-01", to: "2026-11-01" })).toBeUndefined();
    expect(rangeProblem({ from: "2026-11-02", to: "2026-11-01" })).toBe("The end day is before the start day.");
    expect(rangeProblem({ from: "2025-01-01", to: "2026-01-02" })).toBe("A range is at most 366 days.");
    expect(rangeProblem({ from: "2025-01-01", to: "2026-01-01" })).toBeUndefined();
    expect(rangeProblem({ from: "", to: "2026-11-01" })).toBe("Choose a start and an end day.");
  });
});
