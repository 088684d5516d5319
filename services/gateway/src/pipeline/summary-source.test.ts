import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sampleSummary } from "../testing/pipeline-double.ts";
import type { JetStreamSample } from "./jetstream-sample.ts";
import { createPipelineSummaries } from "./summary-source.ts";

const { sampled_at: _at, refresh_ms: _refresh, ingest, ...sample } = sampleSummary;
const t0 = Date.parse("2026-11-02T10:00:00.000Z");

// A fake clock: Date and the sample timeout's timer. setImmediate stays real, for `settle` to let answers through.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"], now: t0 });
});
afterEach(() => {
  vi.useRealTimers();
});

interface PendingSample {
  resolve: (value: JetStreamSample) => void;
  reject: (err: Error) => void;
  signal: AbortSignal;
}

/** A source over a sampler whose samples the test settles one by one, on the fake clock. */
function world() {
  const pending: PendingSample[] = [];
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const source = createPipelineSummaries({
    sample: (signal) => new Promise((resolve, reject) => pending.push({ resolve, reject, signal })),
    ingest: () => ingest,
    refreshMs: 2000,
    log,
  });
  const settle = async (outcome: JetStreamSample | Error) => {
    const next = pending.shift();
    if (!next) throw new Error("no sample under way");
    if (outcome instanceof Error) next.reject(outcome);
    else next.resolve(outcome);
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { pending, lines, source, settle };
}

describe("createPipelineSummaries", () => {
  it("makes the first callers wait for one sample, together", async () => {
    const { source, pending, settle } = world();
    const answers = Promise.all(Array.from({ length: 100 }, () => source.summary()));
    expect(pending).toHaveLength(1);
    await settle(sample);
    for (const answer of await answers) {
      expect(answer).toEqual({ ...sample, sampled_at: new Date(t0).toISOString(), refresh_ms: 2000, ingest });
    }
  });

  it("answers the last sample at once, and starts one new sample when it is older than refresh_ms", async () => {
    const { source, pending, settle } = world();
    const first = source.summary();
    await settle(sample);
    await first;
    vi.setSystemTime(t0 + 1999);
    await Promise.all(Array.from({ length: 100 }, () => source.summary()));
    expect(pending).toHaveLength(0);
    vi.setSystemTime(t0 + 2000);
    const during = await Promise.all(Array.from({ length: 100 }, () => source.summary()));
    expect(pending).toHaveLength(1);
    expect(new Set(during.map((answer) => answer?.sampled_at))).toEqual(new Set([new Date(t0).toISOString()]));
    await settle({ ...sample, writer: null });
    expect(await source.summary()).toMatchObject({ sampled_at: new Date(t0 + 2000).toISOString(), writer: null });
  });

  it("keeps the last sample when one fails, warning once per run of failures", async () => {
    const { source, settle, lines } = world();
    const first = source.summary();
    await settle(sample);
    await first;
    for (const step of [1, 2, 3]) {
      vi.setSystemTime(t0 + step * 2000);
      expect(await source.summary()).toMatchObject({ sampled_at: new Date(t0).toISOString() });
      await settle(new Error("timeout"));
    }
    vi.setSystemTime(t0 + 8000);
    await source.summary();
    await settle(sample);
    expect(await source.summary()).toMatchObject({ sampled_at: new Date(t0 + 8000).toISOString() });
    expect(lines.map((line) => line.msg)).toEqual([
      "could not sample the pipeline; answering with the last sample",
      "pipeline sampling recovered",
    ]);
  });

  it("answers undefined while no sample ever succeeded, and tries again only after refresh_ms", async () => {
    const { source, settle, pending } = world();
    const first = source.summary();
    await settle(new Error("no responders"));
    expect(await first).toBeUndefined();
    expect(await source.summary()).toBeUndefined();
    expect(pending).toHaveLength(0);
    vi.setSystemTime(t0 + 2000);
    const second = source.summary();
    await settle(sample);
    expect(await second).toMatchObject({ sampled_at: new Date(t0 + 2000).toISOString() });
  });

  it("abandons a sample after max(5 s, 2 × refresh_ms), aborting it, and starts the next when asked", async () => {
    const { source, pending, lines } = world();
    const first = source.summary();
    const abandoned = pending[0];
    await vi.advanceTimersByTimeAsync(4999);
    expect(abandoned?.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await first).toBeUndefined();
    expect(abandoned?.signal.aborted).toBe(true);
    expect(lines.map((line) => line.msg)).toEqual(["could not sample the pipeline; answering with the last sample"]);
    const second = source.summary();
    expect(pending).toHaveLength(2);
    // The abandoned sample answering late changes nothing.
    abandoned?.resolve({ ...sample, writer: null });
    pending[1]?.resolve(sample);
    expect(await second).toMatchObject({ sampled_at: new Date(t0 + 5000).toISOString(), writer: sample.writer });
  });

  it("stops serving the last sample once it is older than max(10 s, 5 × refresh_ms), until one succeeds", async () => {
    const { source, settle, pending } = world();
    const first = source.summary();
    await settle(sample);
    await first;
    vi.setSystemTime(t0 + 10_000);
    expect(await source.summary()).toMatchObject({ sampled_at: new Date(t0).toISOString() });
    await settle(new Error("timeout"));
    vi.setSystemTime(t0 + 10_001);
    // Within refresh_ms of the last attempt: nothing to wait for, unavailable at once.
    expect(await source.summary()).toBeUndefined();
    expect(pending).toHaveLength(0);
    vi.setSystemTime(t0 + 12_000);
    const waiting = source.summary();
    await settle(new Error("timeout"));
    expect(await waiting).toBeUndefined();
    vi.setSystemTime(t0 + 14_000);
    const recovered = source.summary();
    await settle(sample);
    expect(await recovered).toMatchObject({ sampled_at: new Date(t0 + 14_000).toISOString() });
  });
});
