import { spawnSync } from "node:child_process";
import { parseExposition } from "@evpipe/gateway/testing";
import { describe, expect, it } from "vitest";
import { type BatchAccepted, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { installPoisonTrigger, removePoisonTrigger } from "./support/poison.ts";
import { waitFor } from "./support/wait-for.ts";

// The pipeline's own cap (tests/support/pipeline.ts), which both services provision.
const eventsMaxBytes = 512 * 1024 ** 2;
const services = usePipelineServices({
  prepare: (pipeline) => installPoisonTrigger(pipeline.db),
  // A 3 s first retry leaves time to lift the poison between the first failed delivery and the second.
  // The first retry comes 9 s after the failure: time enough to see it counted and lift the poison before it.
  consumerEnv: { RETRY_DELAY_UNIT_MS: "3000", METRICS_SAMPLE_INTERVAL_MS: "200" },
});

interface Scrape {
  text: string;
  /** Every series of a metric as `{labels} value`, sorted, for exact comparisons with readable failures. */
  series(name: string): string[];
  /** The value of the one series of `name` whose labels include these; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

async function scrape(baseUrl: string): Promise<Scrape> {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  const samples = parseExposition(text);
  const of = (name: string) => samples.filter((s) => s.name === name);
  return {
    text,
    series: (name) => of(name).map((s) => `${JSON.stringify(s.labels)} ${s.value}`),
    value(name, labels = {}) {
      const found = of(name).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} series`);
      return found[0]?.value;
    },
  };
}

async function send(users: string[]): Promise<string[]> {
  const res = await postJson<BatchAccepted>(
    services.gateway.url,
    "/v1/events/batch",
    { events: users.map((user_id) => ({ event: "metrics-test", user_id })) },
    { "x-api-key": services.key },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.ids;
}

function promtoolProblems(exposition: string): string {
  const run = spawnSync("promtool", ["check", "metrics"], { input: exposition, encoding: "utf8", timeout: 10_000 });
  return `exit ${run.status}: ${run.stdout}${run.stderr}`;
}

describe("metrics exposition of a real gateway and consumer", () => {
  it("counts what happened exactly: accepted, stored, retried and dead-lettered events, lag and DLQ depth", async () => {
    const consumerMetrics = () => scrape(services.consumer.url);
    // A permanent failure (22023) is dead-lettered on its first delivery; its batch's other events are stored.
    const healthy = [...(await send(["h-1", "h-2", "h-3"])), ...(await send(["h-4"]))];
    const [poisonId, ...besides] = await send(["poison-22023-p", "h-5", "h-6"]);
    healthy.push(...besides);
    await waitFor(
      "the permanent failure's dead letter to be counted",
      async () => (await consumerMetrics()).value("evpipe_dead_letters_total", { reason: "permanent_error" }) === 1,
      { timeoutMs: 20_000 },
    );
    // A transient failure (40001) is retried; lifted after the first failed delivery, it is stored on the second.
    const [retriedId] = await send(["poison-40001-r"]);
    await waitFor(
      "the first retry to be counted",
      async () => (await consumerMetrics()).value("evpipe_retries_total", { code: "40001" }) === 1,
      { timeoutMs: 20_000, intervalMs: 20 },
    );
    await removePoisonTrigger(services.pipeline.db);
    healthy.push(retriedId as string);
    await waitFor(
      "every healthy event to be stored",
      async () => (await services.pipeline.storedCount(healthy)) === 7,
      {
        timeoutMs: 30_000,
      },
    );
    expect(await services.pipeline.storedCount([poisonId as string])).toBe(0);

    const consumer = await waitFor(
      "the sampled lag to reach 0 with the dead letter in the DLQ",
      async () => {
        const now = await consumerMetrics();
        const settled =
          now.value("evpipe_consumer_lag_messages") === 0 &&
          now.value("evpipe_dlq_messages", { stream: services.pipeline.names.dlqStream }) === 1 &&
          now.value("evpipe_events_stored_total") === 7;
        return settled ? now : undefined;
      },
      { timeoutMs: 20_000 },
    );
    const { names } = services.pipeline;
    expect(consumer.series("evpipe_events_stored_total")).toEqual(["{} 7"]);
    expect(consumer.series("evpipe_dead_letters_total")).toEqual([`{"reason":"permanent_error","code":"22023"} 1`]);
    expect(consumer.series("evpipe_retries_total")).toEqual([`{"code":"40001"} 1`]);
    expect(consumer.series("evpipe_consumer_lag_messages")).toEqual([`{"consumer":"${names.writerConsumer}"} 0`]);
    expect(consumer.value("evpipe_consumer_pending_messages")).toBe(0);
    expect(consumer.value("evpipe_consumer_ack_pending_messages")).toBe(0);
    expect(consumer.value("evpipe_stream_max_bytes", { stream: names.eventsStream })).toBe(eventsMaxBytes);
    expect(consumer.value("evpipe_stream_messages", { stream: names.eventsStream })).toBe(4);
    expect(consumer.value("evpipe_stream_messages", { stream: names.dlqStream })).toBe(1);
    expect(consumer.value("evpipe_stream_bytes", { stream: names.eventsStream })).toBeGreaterThan(0);
    const sampledAt = consumer.value("evpipe_jetstream_sample_timestamp_seconds") ?? 0;
    expect(Math.abs(Date.now() / 1000 - sampledAt), consumer.text).toBeLessThan(10);
    expect(consumer.series("evpipe_consumer_paused")).toEqual(["{} 0"]);
    expect(consumer.series("evpipe_consumer_state").sort()).toEqual(
      [`{"state":"consuming"} 1`, `{"state":"paused"} 0`, `{"state":"starting"} 0`, `{"state":"stopped"} 0`].sort(),
    );
    // Every write is timed and sized; the retried event's failed first write counts as a write too.
    expect(consumer.value("evpipe_write_duration_seconds_count")).toBe(consumer.value("evpipe_write_events_count"));
    expect(consumer.value("evpipe_write_events_sum")).toBeGreaterThanOrEqual(9);
    expect(consumer.value("process_cpu_seconds_total")).toBeGreaterThan(0);

    const gateway = await scrape(services.gateway.url);
    expect(gateway.series("evpipe_events_accepted_total")).toEqual(["{} 8"]);
    expect(gateway.value("evpipe_http_requests_total", { route: "/v1/events/batch", status: "202" })).toBe(4);
    expect(gateway.value("evpipe_publish_duration_seconds_count")).toBe(4);
    expect(gateway.series("evpipe_publish_failures_total")).toEqual(["{} 0"]);
    expect(gateway.series("evpipe_publishes_in_flight")).toEqual(["{} 0"]);
    expect(gateway.value("nodejs_heap_size_used_bytes")).toBeGreaterThan(0);

    expect(promtoolProblems(gateway.text)).toBe("exit 0: ");
    expect(promtoolProblems(consumer.text)).toBe("exit 0: ");
  });
});
