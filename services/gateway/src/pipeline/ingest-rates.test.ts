import type { PipelineReport } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { forgetGone, ingestRates, keepReport, type ReportSeries, rateWindowOf } from "./ingest-rates.ts";

const window = rateWindowOf(2000);
const t0 = Date.parse("2026-11-02T10:00:00.000Z");
const gateway = (instance: string, seconds: number, accepted: number): PipelineReport => ({
  role: "gateway",
  instance,
  startedAt: t0,
  at: t0 + seconds * 1000,
  accepted,
});
const consumer = (instance: string, seconds: number, stored: number): PipelineReport => ({
  role: "consumer",
  instance,
  startedAt: t0,
  at: t0 + seconds * 1000,
  stored,
});
/** The reports as received here, each the moment it was made (clocks in step), unless said otherwise. */
const series = (...reports: PipelineReport[]): ReportSeries => receivedAt(reports.map((report) => [report, report.at]));
const receivedAt = (arrivals: Array<[PipelineReport, number]>): ReportSeries =>
  arrivals.reduce<ReportSeries | undefined>(
    (kept, [report, arrived]) => keepReport(kept, report, arrived, window.windowMs),
    undefined,
  ) ?? { reports: [], receivedAt: 0 };
const at = (seconds: number) => t0 + seconds * 1000;

describe("rateWindowOf", () => {
  it("takes rates over five report intervals and counts an instance gone after three", () => {
    expect(rateWindowOf(2000)).toEqual({ windowMs: 10_000, recentMs: 6000 });
  });
});

describe("keepReport", () => {
  it("keeps the reports of the window before the latest, oldest first", () => {
    const kept = series(gateway("a", 0, 0), gateway("a", 2, 1), gateway("a", 10, 5), gateway("a", 12, 6));
    expect(kept.reports.map((report) => report.at)).toEqual([at(2), at(10), at(12)]);
    expect(kept.receivedAt).toBe(at(12));
  });

  it("ignores a report not newer than the latest (a watch delivering one again)", () => {
    const kept = series(gateway("a", 0, 0), gateway("a", 2, 4));
    expect(keepReport(kept, gateway("a", 2, 4), at(30), window.windowMs)).toBe(kept);
    expect(keepReport(kept, gateway("a", 1, 2), at(30), window.windowMs)).toBe(kept);
  });
});

describe("forgetGone", () => {
  it("drops instances not heard from within the span", () => {
    const all = new Map([
      ["gateway.a", series(gateway("a", 0, 0))],
      ["gateway.b", series(gateway("b", 500, 0))],
    ]);
    expect([...forgetGone(all, at(601), 600_000).keys()]).toEqual(["gateway.b"]);
  });
});

describe("ingestRates", () => {
  it("is null, with no instance, before anything reported", () => {
    expect(ingestRates([], at(0), window)).toEqual({
      accepted_per_second: null,
      stored_per_second: null,
      gateways: 0,
      consumers: 0,
    });
  });

  it("counts an instance with one report, and has no rate for it until its second", () => {
    expect(ingestRates([series(gateway("a", 0, 10))], at(1), window)).toEqual({
      accepted_per_second: null,
      stored_per_second: null,
      gateways: 1,
      consumers: 0,
    });
  });

  it("sums per instance (latest - earliest in the window) / elapsed, over both roles", () => {
    const all = [
      series(gateway("a", 0, 0), gateway("a", 2, 100), gateway("a", 4, 400)),
      series(gateway("b", 1, 1000), gateway("b", 3, 1100)),
      series(consumer("c", 0, 0), consumer("c", 4, 200)),
    ];
    expect(ingestRates(all, at(4), window)).toEqual({
      accepted_per_second: 100 + 50,
      stored_per_second: 50,
      gateways: 2,
      consumers: 1,
    });
  });

  it("uses only the reports of the window: a burst that ended earlier no longer counts", () => {
    const burst = series(
      gateway("a", 0, 0),
      gateway("a", 2, 1000),
      ...[4, 6, 8, 10, 12].map((s) => gateway("a", s, 1000)),
    );
    expect(ingestRates([burst], at(12), window).accepted_per_second).toBe(0);
  });

  it("leaves out an instance whose latest report is older than three intervals, and its rate", () => {
    const gone = series(gateway("a", 0, 0), gateway("a", 2, 100));
    const live = series(gateway("b", 0, 0), gateway("b", 8, 80));
    expect(ingestRates([gone, live], at(9), window)).toMatchObject({ accepted_per_second: 10, gateways: 1 });
    expect(ingestRates([gone], at(9), window)).toMatchObject({ accepted_per_second: null, gateways: 0 });
  });

  it("takes no negative rate from a count that went down", () => {
    expect(ingestRates([series(consumer("c", 0, 10), consumer("c", 2, 4))], at(2), window).stored_per_second).toBe(0);
  });

  it("judges an instance by when its reports arrived here, not by its own clock, and takes its rate on that", () => {
    // Ten minutes behind: its own `at` says it is long gone, but its reports keep arriving.
    const behind = receivedAt([
      [gateway("slow", -600, 0), at(0)],
      [gateway("slow", -598, 100), at(2)],
    ]);
    expect(ingestRates([behind], at(3), window)).toMatchObject({ accepted_per_second: 50, gateways: 1 });
    // Ten minutes ahead: its own `at` says it just reported, but nothing arrived for more than three intervals.
    const ahead = receivedAt([
      [consumer("fast", 600, 0), at(0)],
      [consumer("fast", 602, 40), at(2)],
    ]);
    expect(ingestRates([ahead], at(4), window)).toMatchObject({ stored_per_second: 20, consumers: 1 });
    expect(ingestRates([ahead], at(9), window)).toMatchObject({ stored_per_second: null, consumers: 0 });
  });
});
