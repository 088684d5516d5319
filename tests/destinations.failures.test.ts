import { destinationNames } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import {
  type DestinationRow,
  metricReaches,
  metricValue,
  sendBatches,
  useDestinations,
} from "./support/destinations.ts";
import { freePort } from "./support/free-port.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { answerOk, type SinkScript, type VendorSink } from "./support/vendor-sink.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices();
const concurrency = 4;
const maxInFlight = 8;
const destinations = useDestinations(services, {
  RETRY_DELAY_UNIT_MS: "100",
  FORWARDER_CONCURRENCY: String(concurrency),
  FORWARDER_MAX_IN_FLIGHT: String(maxInFlight),
});

/** Each id's attempts at the sink, in order, with when each arrived and what it was answered. */
function attemptsById(sink: VendorSink) {
  const attempts = new Map<string, Array<{ at: number; answeredAt?: number; status?: number }>>();
  for (const request of sink.requests) {
    for (const id of request.ids) {
      const list = attempts.get(id) ?? [];
      list.push({ at: request.at, answeredAt: request.answeredAt, status: request.answer?.status });
      attempts.set(id, list);
    }
  }
  return attempts;
}

async function storedAll(ids: readonly string[]) {
  await waitFor(
    `${ids.length} events stored`,
    async () => {
      const stored = await services.pipeline.storedCount(ids);
      if (stored !== ids.length) throw new Error(`${stored} stored`);
      return true;
    },
    { timeoutMs: 20_000 },
  );
  return Date.now();
}

const metric = (name: string, destination: string) =>
  metricValue(destinations.forwarder.url, `evpipe_destination_${name}`, { destination });

const lagIs = (destination: string, expected: number) =>
  metricReaches(destinations.forwarder.url, "evpipe_destination_lag", { destination }, (v) => v === expected);

describe("destinations: a failing vendor", () => {
  it("a webhook answering 503 for its first seconds gets every event, without delaying storage or another destination", async () => {
    // An overloaded vendor: slow to answer, 503 with Retry-After until the test lets it recover.
    const overloaded: SinkScript = () => ({
      status: 503,
      headers: { "retry-after": "1" },
      body: { error: "not yet" },
      delayMs: 100,
    });
    const flaky = await destinations.sink("webhook", overloaded);
    const healthy = await destinations.sink("webhook");
    await destinations.add("flaky", { type: "webhook", url: `${flaky.url}/hook`, secret: "flaky-secret" });
    await destinations.add("healthy", { type: "webhook", url: `${healthy.url}/hook`, secret: "healthy-secret" });

    const ids = await sendBatches(services.gateway.url, services.key, { batches: 40, size: 25, concurrency: 8 });
    expect(ids).toHaveLength(1000);
    // Storage and the healthy destination get everything while the flaky one is still answering 503.
    await storedAll(ids);
    await healthy.waitForDelivered(ids, 20_000);
    const failures = flaky.requests.filter((request) => request.answer?.status === 503);
    expect(failures.length, flaky.report()).toBeGreaterThan(0);
    expect(flaky.firstSuccessAt(), flaky.report()).toBeUndefined();
    flaky.answerWith(() => ({ ...answerOk(), delayMs: 100 }));
    await flaky.waitForDelivered(ids, 40_000);
    // Several requests in flight at once over kept-alive connections, never more than the concurrency.
    expect(flaky.maxInFlight, flaky.report()).toBeGreaterThan(1);
    expect(flaky.maxInFlight, flaky.report()).toBeLessThanOrEqual(concurrency);
    expect(healthy.maxInFlight, healthy.report()).toBeLessThanOrEqual(concurrency);
    expect(flaky.connections, flaky.report()).toBeLessThan(flaky.requests.length);
    expect(flaky.connections, flaky.report()).toBeLessThanOrEqual(concurrency * 2);

    // Retry-After: 1 is longer than the first backoffs (300 ms, 900 ms): no id came back sooner.
    for (const [id, attempts] of attemptsById(flaky)) {
      for (let i = 1; i < attempts.length; i++) {
        const previous = attempts[i - 1];
        if (previous?.status !== 503) continue;
        const gap = (attempts[i]?.at ?? 0) - (previous.answeredAt ?? 0);
        expect(gap, `${id}: ${JSON.stringify(attempts)}`).toBeGreaterThanOrEqual(950);
      }
    }
    // Every event once to the healthy one; nothing dead-lettered for either.
    expect([...healthy.deliveredCounts().values()].every((n) => n === 1)).toBe(true);
    const { dlqStream } = destinationNames(services.pipeline.namespace);
    expect((await services.pipeline.jsm.streams.info(dlqStream)).state.messages).toBe(0);
    expect(await metric("events_delivered_total", "healthy")).toBe(ids.length);
    expect(await metric("events_delivered_total", "flaky")).toBe(ids.length);
    expect(await metric("retries_total", "flaky")).toBeGreaterThan(0);
    expect((await metric("retries_total", "healthy")) ?? 0).toBe(0);
    await lagIs("flaky", 0);
  });

  it("a destination on a closed port shows its lag in list and /metrics while the others get everything", async () => {
    const port = await freePort();
    const healthy = await destinations.sink("webhook");
    await destinations.add("steady", { type: "webhook", url: `${healthy.url}/in`, secret: "steady-secret" });
    await destinations.add("down", { type: "webhook", url: `http://127.0.0.1:${port}/hook`, secret: "down-secret" });

    const batches = 12;
    const ids = await sendBatches(services.gateway.url, services.key, { batches, size: 10, concurrency: 4 });
    await storedAll(ids);
    await healthy.waitForDelivered(ids, 15_000);
    expect([...healthy.deliveredCounts().values()].every((n) => n === 1)).toBe(true);

    // Every message since it was added waits for it: pending or unacknowledged while retried.
    await lagIs("down", batches);
    await lagIs("steady", 0);
    // A destination that keeps failing holds no more than its bound of unacknowledged messages; the rest wait.
    const { consumer } = destinationNames(services.pipeline.namespace);
    const info = await services.pipeline.jsm.consumers.info(services.pipeline.names.eventsStream, consumer("down"));
    expect([info.num_ack_pending, info.num_pending]).toEqual([maxInFlight, batches - maxInFlight]);
    expect(await metric("last_success_timestamp_seconds", "steady")).toBeGreaterThan(Date.now() / 1000 - 60);
    expect((await metric("last_success_timestamp_seconds", "down")) ?? 0).toBe(0);
    let rows: DestinationRow[] = [];
    await waitFor(
      "list to show the lag and the error",
      async () => {
        rows = await destinations.cli.list();
        const down = rows.find((row) => row.name === "down");
        if (down?.lag !== batches || !down.last_error) throw new Error(JSON.stringify(rows));
        return true;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    const down = rows.find((row) => row.name === "down") as DestinationRow;
    expect(down, JSON.stringify(rows)).toMatchObject({
      type: "webhook",
      url: `http://127.0.0.1:${port}/hook`,
      paused: false,
      delivered: 0,
      failed: 0,
      last_success_at: null,
    });
    expect(down.last_error?.message, JSON.stringify(down)).toContain("ECONNREFUSED");
    expect(down.retried, JSON.stringify(down)).toBeGreaterThan(0);
    await waitFor("the steady destination's counts in list", async () => {
      const steady = (await destinations.cli.list()).find((row) => row.name === "steady");
      if (steady?.delivered !== ids.length) throw new Error(JSON.stringify(steady));
      return steady;
    });
    const steady = (await destinations.cli.list()).find((row) => row.name === "steady");
    expect(steady, JSON.stringify(steady)).toMatchObject({ lag: 0, failed: 0, last_error: null, paused: false });
    expect(Date.parse(steady?.last_success_at ?? "")).toBeGreaterThan(Date.now() - 60_000);
    // Secrets never shown.
    expect(JSON.stringify(rows)).not.toMatch(/down-secret|steady-secret|flaky-secret|healthy-secret/);
  });
});
