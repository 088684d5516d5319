import { createLogger, natsNames } from "@evpipe/shared";
import type { ConsumerInfo, JetStreamManager, StreamInfo } from "nats";
import { describe, expect, it } from "vitest";
import { sampleJetStream, startJetStreamSampler } from "./jetstream-sampler.ts";
import { createConsumerMetrics } from "./metrics.ts";

const names = natsNames(undefined);

function stream(name: string, messages: number, bytes: number, maxBytes: number): StreamInfo {
  return { config: { name, max_bytes: maxBytes }, state: { messages, bytes } } as unknown as StreamInfo;
}

/** Only the two info calls the sampler makes; `failing` makes every call reject. */
function jetStream(state: { failing: boolean; pending: number }) {
  const calls: string[] = [];
  const fail = () => Promise.reject(new Error("timeout"));
  const jsm = {
    consumers: {
      info: (streamName: string, consumer: string) => {
        calls.push(`consumer ${streamName}/${consumer}`);
        if (state.failing) return fail();
        return Promise.resolve({ name: consumer, num_pending: state.pending, num_ack_pending: 3 } as ConsumerInfo);
      },
    },
    streams: {
      info: (name: string) => {
        calls.push(`stream ${name}`);
        if (state.failing) return fail();
        return Promise.resolve(
          name === names.dlqStream ? stream(name, 2, 900, -1) : stream(name, 40, 123_456, 10 * 1024 ** 3),
        );
      },
    },
  } as unknown as JetStreamManager;
  return { jsm, calls };
}

const text = async (metrics: ReturnType<typeof createConsumerMetrics>) => await metrics.registry.metrics();

describe("JetStream sampling", () => {
  it("sets lag, pending, DLQ depth and each stream's size against its cap, and the sample time", async () => {
    const metrics = createConsumerMetrics(() => ({ state: "consuming", ready: true }));
    const { jsm } = jetStream({ failing: false, pending: 7 });
    await sampleJetStream({ jsm, names, gauges: metrics, now: () => 1_700_000_000_000 });
    const exposition = await text(metrics);
    for (const line of [
      'evpipe_consumer_lag_messages{consumer="events-writer"} 10',
      'evpipe_consumer_pending_messages{consumer="events-writer"} 7',
      'evpipe_consumer_ack_pending_messages{consumer="events-writer"} 3',
      'evpipe_dlq_messages{stream="EVENTS_DLQ"} 2',
      'evpipe_stream_bytes{stream="EVENTS"} 123456',
      'evpipe_stream_max_bytes{stream="EVENTS"} 10737418240',
      'evpipe_stream_messages{stream="EVENTS"} 40',
      'evpipe_stream_max_bytes{stream="EVENTS_DLQ"} -1',
      "evpipe_jetstream_sample_timestamp_seconds 1700000000",
    ]) {
      expect(exposition.split("\n"), exposition).toContain(line);
    }
  });

  it("keeps the last values when a sample fails, warns once per run of failures, and recovers", async () => {
    const metrics = createConsumerMetrics(() => ({ state: "consuming", ready: true }));
    const state = { failing: false, pending: 1 };
    const { jsm, calls } = jetStream(state);
    const lines: Array<{ level: string; msg: string }> = [];
    const log = createLogger({ service: "consumer", level: "info" }, { write: (line) => lines.push(JSON.parse(line)) });
    const said = (level: string) => lines.filter((line) => line.level === level).map((line) => line.msg);
    const sampler = startJetStreamSampler({ jsm, names, gauges: metrics, log, intervalMs: 10 });
    const samples = (n: number) => expect.poll(() => calls.length, { timeout: 2000 }).toBeGreaterThanOrEqual(n);
    await samples(3);
    state.failing = true;
    state.pending = 99;
    await samples(calls.length + 9);
    expect(await text(metrics)).toContain('evpipe_consumer_lag_messages{consumer="events-writer"} 4');
    expect(said("warn")).toEqual(["could not sample JetStream; the lag and stream gauges keep their values"]);
    state.failing = false;
    await expect.poll(() => said("info"), { timeout: 2000 }).toEqual(["JetStream sampling recovered"]);
    await sampler.stop();
    const stoppedAt = calls.length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls.length).toBe(stoppedAt);
    expect(await text(metrics)).toContain('evpipe_consumer_lag_messages{consumer="events-writer"} 102');
  });
});
