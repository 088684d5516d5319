import { describe, expect, it } from "vitest";
import { formatAge, formatBytes, formatCount, formatInstant, formatRate, formatShare } from "./format.ts";

describe("number formats", () => {
  it("groups thousands in counts", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(1234567)).toBe("1,234,567");
  });

  it("gives rates one decimal only while they are small, and a dash when unknown", () => {
    expect(formatRate(null)).toBe("–");
    expect(formatRate(0)).toBe("0.0");
    expect(formatRate(3.26)).toBe("3.3");
    expect(formatRate(1520.4)).toBe("1,520");
    expect(formatRate(2.5, "/s")).toBe("2.5/s");
    expect(formatRate(null, "/s")).toBe("–");
  });

  it("never rounds a small share down to 0 %", () => {
    expect(formatShare(0)).toBe("0%");
    expect(formatShare(0.004)).toBe("0.4%");
    expect(formatShare(0.000_007)).toBe("<0.1%");
    expect(formatShare(1 / 3)).toBe("33%");
    expect(formatShare(1)).toBe("100%");
  });

  it("uses binary units for bytes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(1024 ** 3)).toBe("1.0 GiB");
  });

  it("shows instants in UTC to the second", () => {
    expect(formatInstant("2026-11-02T23:30:00.123-05:00")).toBe("2026-11-03 04:30:00 UTC");
    expect(formatInstant("not a date")).toBe("not a date");
  });

  it("says how long ago in seconds, then minutes, then hours", () => {
    expect([formatAge(-5), formatAge(42_900), formatAge(119_999)]).toEqual(["0 s", "42 s", "119 s"]);
    expect([formatAge(120_000), formatAge(7_199_999), formatAge(3 * 86_400_000)]).toEqual(["2 min", "119 min", "72 h"]);
  });
});
