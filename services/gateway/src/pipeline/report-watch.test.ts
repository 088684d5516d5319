import { encodePipelineReport, type PipelineReport } from "@evpipe/shared";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { rateWindowOf } from "./ingest-rates.ts";
import { type WatchableBucket, watchPipelineReports } from "./report-watch.ts";

const t0 = Date.parse("2026-11-02T10:00:00.000Z");
const window = rateWindowOf(2000);
type Entry = { key: string; operation: "PUT"; value: Uint8Array };

const report = (instance: string, accepted: number, at: number): Entry => {
  const gateway: PipelineReport = { role: "gateway", instance, startedAt: t0, at, accepted };
  return {
    key: `gateway.${instance}`,
    operation: "PUT",
    value: new TextEncoder().encode(encodePipelineReport(gateway)),
  };
};
const a = "0192e4c2-0000-7000-8000-00000000000a";
const b = "0192e4c2-0000-7000-8000-00000000000b";

/** One watch the test feeds, then ends or fails, as the NATS ordered consumer behind a KV watch can. */
function fakeWatch(initial: Entry[], onLoaded: () => void) {
  const queue: Array<Entry | { end: true } | { fail: Error }> = [...initial];
  let wake: (() => void) | undefined;
  const push = (item: (typeof queue)[number]) => {
    queue.push(item);
    wake?.();
  };
  async function* entries(): AsyncGenerator<Entry> {
    for (;;) {
      const next = queue.shift();
      if (!next) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if ("end" in next) return;
      if ("fail" in next) throw next.fail;
      yield next;
    }
  }
  // As nats.js does when the bucket's entries arrived before watch() returned.
  onLoaded();
  return {
    iterable: Object.assign(entries(), { stop: () => push({ end: true }) }),
    put: (entry: Entry) => push(entry),
    end: () => push({ end: true }),
    fail: (err: Error) => push({ fail: err }),
  };
}

/** A bucket whose every watch() the test sees, and can make refuse. */
function fakeBucket(initial: Entry[]) {
  const watches: Array<ReturnType<typeof fakeWatch>> = [];
  let refuse = 0;
  const bucket: WatchableBucket = {
    async watch({ initializedFn }) {
      if (refuse > 0) {
        refuse--;
        throw new Error("no responders");
      }
      const watch = fakeWatch(watches.length === 0 ? initial : [], initializedFn);
      watches.push(watch);
      return watch.iterable;
    },
  };
  return { bucket, watches, refuseNext: (times: number) => (refuse = times) };
}

const logged = () => {
  const lines: string[] = [];
  return { lines, log: pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line).msg) }) };
};

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"], now: t0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("watchPipelineReports", () => {
  it("watches again with a doubling wait after the watch fails or ends, saying so once per run of failures", async () => {
    const { bucket, watches, refuseNext } = fakeBucket([report(a, 0, t0)]);
    const { lines, log } = logged();
    const reports = await watchPipelineReports(bucket, log, window, { retryMs: 100 });
    await vi.advanceTimersByTimeAsync(0);
    expect(reports.ingest(Date.now())).toMatchObject({ gateways: 1 });

    refuseNext(1);
    watches[0]?.fail(new Error("consumer deleted"));
    await vi.advanceTimersByTimeAsync(100);
    expect(watches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(199);
    expect(watches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(watches).toHaveLength(2);
    expect(lines).toEqual([
      "the pipeline reports watch stopped; watching again",
      "watching the pipeline reports again",
    ]);

    watches[1]?.put(report(b, 0, Date.now()));
    await vi.advanceTimersByTimeAsync(0);
    expect(reports.ingest(Date.now())).toMatchObject({ gateways: 2 });

    // Ended without an error: the rates would freeze if nobody watched again. The wait starts over.
    watches[1]?.end();
    await vi.advanceTimersByTimeAsync(100);
    expect(watches).toHaveLength(3);
    expect(lines.slice(2)).toEqual([
      "the pipeline reports watch stopped; watching again",
      "watching the pipeline reports again",
    ]);

    reports.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(watches).toHaveLength(3);
    expect(lines).toHaveLength(4);
  });

  it("judges an instance gone by when its reports arrived here, whatever its own clock says", async () => {
    const { bucket, watches } = fakeBucket([]);
    const reports = await watchPipelineReports(bucket, logged().log, window);
    // A host whose clock is ten minutes behind.
    const skew = -600_000;
    watches[0]?.put(report(a, 0, Date.now() + skew));
    await vi.advanceTimersByTimeAsync(2000);
    watches[0]?.put(report(a, 100, Date.now() + skew));
    await vi.advanceTimersByTimeAsync(1000);
    expect(reports.ingest(Date.now())).toEqual({
      accepted_per_second: 50,
      stored_per_second: null,
      gateways: 1,
      consumers: 0,
    });
    await vi.advanceTimersByTimeAsync(5001);
    expect(reports.ingest(Date.now())).toMatchObject({ accepted_per_second: null, gateways: 0 });
    reports.stop();
  });

  it("rejects when the first watch cannot start", async () => {
    const { bucket, refuseNext } = fakeBucket([]);
    refuseNext(1);
    await expect(watchPipelineReports(bucket, logged().log, window)).rejects.toThrow("no responders");
  });
});
