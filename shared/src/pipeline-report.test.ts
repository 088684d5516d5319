import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  decodePipelineReport,
  encodePipelineReport,
  type PipelineReport,
  pipelineReportKey,
  startPipelineReporter,
} from "./pipeline-report.ts";

const instance = "0192e4c2-0000-7000-8000-00000000000a";
const startedAt = Date.parse("2026-11-02T10:00:00.000Z");
const gateway: PipelineReport = { role: "gateway", instance, startedAt, at: startedAt + 2000, accepted: 42 };
const consumer: PipelineReport = {
  role: "consumer",
  instance,
  startedAt,
  at: startedAt + 4000,
  stored: 40,
};
const bytes = (text: string) => new TextEncoder().encode(text);
const silent = pino({ level: "silent" });

describe("the pipeline report", () => {
  it.each([gateway, consumer])("decodes what it encodes ($role)", (report) => {
    expect(decodePipelineReport(bytes(encodePipelineReport(report)))).toEqual(report);
  });

  it("is keyed by role and instance, and written with RFC 3339 times and snake_case fields", () => {
    expect(pipelineReportKey(consumer)).toBe(`consumer.${instance}`);
    expect(JSON.parse(encodePipelineReport(consumer))).toEqual({
      role: "consumer",
      instance,
      started_at: "2026-11-02T10:00:00.000Z",
      at: "2026-11-02T10:00:04.000Z",
      stored: 40,
    });
  });

  it("refuses what is not a report", () => {
    const wire = JSON.parse(encodePipelineReport(gateway)) as Record<string, unknown>;
    for (const bad of [
      { ...wire, role: "forwarder" },
      { ...wire, accepted: -1 },
      { ...wire, accepted: 1.5 },
      { ...wire, at: "yesterday" },
      { ...wire, instance: "not-a-uuid" },
      { ...wire, role: "consumer" },
    ]) {
      expect(() => decodePipelineReport(bytes(JSON.stringify(bad))), JSON.stringify(bad)).toThrow();
    }
    expect(() => decodePipelineReport(bytes("{nope"))).toThrow();
  });
});

describe("startPipelineReporter", () => {
  // The interval's ticks on a fake clock the tests move; promises settle for real.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("puts at once, skips a tick while a put is under way, and puts the latest counts at stop", async () => {
    const puts: Array<{ key: string; accepted: number }> = [];
    let release: () => void = () => undefined;
    let accepted = 0;
    const kv = {
      put: async (key: string, value: string) => {
        puts.push({ key, accepted: (JSON.parse(value) as { accepted: number }).accepted });
        // The first put hangs until released: NATS is slow.
        if (puts.length === 1) await new Promise<void>((resolve) => (release = resolve));
        return puts.length;
      },
    };
    const reporter = startPipelineReporter({
      kv,
      snapshot: () => ({ ...gateway, accepted }),
      intervalMs: 5,
      log: silent,
    });
    accepted = 7;
    // Eight ticks while the first put hangs.
    await vi.advanceTimersByTimeAsync(40);
    expect(puts).toEqual([{ key: `gateway.${instance}`, accepted: 0 }]);
    release();
    accepted = 9;
    await reporter.stop();
    expect(puts.at(-1)).toEqual({ key: `gateway.${instance}`, accepted: 9 });
  });

  it("never throws into the service: a failing put warns once per run of failures", async () => {
    const warnings: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => warnings.push(JSON.parse(line).msg) });
    let fail = true;
    let failed = 0;
    const kv = {
      put: async () => {
        if (fail) {
          failed++;
          throw new Error("no responders");
        }
        return 1;
      },
    };
    const reporter = startPipelineReporter({ kv, snapshot: () => gateway, intervalMs: 2, log });
    await vi.advanceTimersByTimeAsync(30);
    expect(failed).toBe(16);
    fail = false;
    await reporter.stop();
    expect(warnings).toEqual(["could not write the pipeline report; will retry", "pipeline report written again"]);
  });
});
