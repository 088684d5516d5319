import { destinationNames } from "@evpipe/shared";
import { beforeAll, describe, expect, it } from "vitest";
import { metricReaches, sendBatches, useDestinations } from "./support/destinations.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { sinkScripts, type VendorSink } from "./support/vendor-sink.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices();
// Unacknowledged messages of a killed forwarder come back after 3 s.
const destinations = useDestinations(services, { ACK_WAIT_MS: "3000", DELIVERY_TIMEOUT_MS: "2000" });
let hook: VendorSink;
let posthog: VendorSink;

beforeAll(async () => {
  // Slow vendors, so requests are certainly under way when the forwarder dies.
  hook = await destinations.sink("webhook", sinkScripts.slow(80));
  posthog = await destinations.sink("posthog", sinkScripts.slow(40));
  await destinations.add("crash-hook", { type: "webhook", url: `${hook.url}/in`, secret: "crash-hook-secret" });
  await destinations.add("crash-posthog", { type: "posthog", url: posthog.url, secret: "phc_crash" });
});

/** The ids the sink took more than once, of these. */
const duplicates = (sink: VendorSink, ids: readonly string[]) => {
  const counts = sink.deliveredCounts();
  return ids.filter((id) => (counts.get(id) ?? 0) > 1);
};

async function settled() {
  const { forwarder } = destinations;
  await Promise.all(
    ["crash-hook", "crash-posthog"].map((destination) =>
      metricReaches(forwarder.url, "evpipe_destination_lag", { destination }, (v) => v === 0, 20_000),
    ),
  );
  const { dlqStream } = destinationNames(services.pipeline.namespace);
  expect((await services.pipeline.jsm.streams.info(dlqStream)).state.messages).toBe(0);
}

describe("destinations: the forwarder killed", () => {
  it("SIGKILLed mid-delivery under load, then restarted: every event arrives at least once", async () => {
    const before = { hook: hook.deliveredCounts().size, posthog: posthog.deliveredCounts().size };
    const sending = sendBatches(services.gateway.url, services.key, { batches: 80, size: 40, concurrency: 4 });
    // Killed the moment requests are under way (nothing runs between the last look and the signal).
    await waitFor(
      "some events delivered and requests under way",
      () => hook.deliveredCounts().size > before.hook + 400 && hook.inFlight + posthog.inFlight > 0,
      { timeoutMs: 20_000, intervalMs: 5 },
    );
    expect(await destinations.forwarder.kill("SIGKILL")).toBeNull();
    const atKill = hook.deliveredCounts().size;
    const ids = await sending;
    expect(ids).toHaveLength(3200);
    expect(atKill).toBeLessThan(ids.length);

    await destinations.startForwarder();
    await Promise.all([hook.waitForDelivered(ids, 45_000), posthog.waitForDelivered(ids, 45_000)]);
    await settled();
    // At least once: what was under way at the kill may come twice (the vendors deduplicate by id), but never
    // twice in one request.
    const twice = { hook: duplicates(hook, ids).length, posthog: duplicates(posthog, ids).length };
    console.info(`after SIGKILL: ${JSON.stringify(twice)} of ${ids.length} events delivered more than once`);
    expect(hook.repeatsWithinRequests(), hook.whereDelivered()).toEqual([]);
    expect(posthog.repeatsWithinRequests(), posthog.whereDelivered()).toEqual([]);
    expect(await services.pipeline.storedCount(ids)).toBe(ids.length);
  });

  it("SIGTERM under load settles what is under way, exits 0, and a restart delivers the rest with no duplicates", async () => {
    const before = hook.deliveredCounts().size;
    const sending = sendBatches(services.gateway.url, services.key, { batches: 40, size: 40, concurrency: 4 });
    await waitFor("some events delivered", () => hook.deliveredCounts().size > before + 200, { timeoutMs: 20_000 });
    const forwarder = destinations.forwarder;
    expect(await forwarder.stop()).toBe(0);
    expect(
      forwarder.lines.some((line) => line.msg === "shutdown complete"),
      JSON.stringify(forwarder.lines.at(-1)),
    ).toBe(true);
    const stoppedAt = Date.now();
    const ids = await sending;

    const restartedAt = Date.now();
    await destinations.startForwarder();
    await Promise.all([hook.waitForDelivered(ids, 30_000), posthog.waitForDelivered(ids, 30_000)]);
    await settled();
    // Requests under way were answered and acknowledged, the rest handed back: nothing comes twice.
    for (const sink of [hook, posthog]) {
      const twice = duplicates(sink, ids);
      const when = `stopped at ${stoppedAt}, restarted at ${restartedAt}`;
      expect(twice.length, `${sink.format}: ${sink.whereDelivered(twice)}; ${when}`).toBe(0);
    }
  });

  it("a destination added while the forwarder is down gets every event since it was added", async () => {
    const stopped = destinations.forwarder;
    expect(await stopped.stop()).toBe(0);
    const late = await destinations.sink("webhook");
    await destinations.cli.add("added-while-down", { type: "webhook", url: `${late.url}/in`, secret: "s-down" });
    const ids = await sendBatches(services.gateway.url, services.key, { batches: 5, size: 10 });
    await destinations.startForwarder();
    await late.waitForDelivered(ids);
    expect(late.deliveredCounts().size, late.report()).toBe(ids.length);
  });

  it("a restart in the middle of retries keeps the attempts: six requests per event, none carrying an event twice", async () => {
    const failing = await destinations.sink("webhook", sinkScripts.always(503));
    expect(await destinations.forwarder.stop()).toBe(0);
    // 3^n x 20 ms: the five retries take 7 s.
    await destinations.startForwarder({ RETRY_DELAY_UNIT_MS: "20" });
    await destinations.add("retrying", { type: "webhook", url: `${failing.url}/in`, secret: "s-retrying" });
    const ids = await sendBatches(services.gateway.url, services.key, { batches: 3, size: 5 });
    await waitFor("two attempts of every event", () => ids.every((id) => (failing.attemptCounts().get(id) ?? 0) >= 2));
    expect(await destinations.forwarder.stop()).toBe(0);
    await destinations.startForwarder({ RETRY_DELAY_UNIT_MS: "20" });
    await waitFor(
      "every event dead-lettered",
      async () => {
        const rows = await destinations.cli.dlqList("retrying");
        if (rows.length !== ids.length) throw new Error(`${rows.length} dead-lettered: ${failing.report()}`);
        return rows;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    ).then((rows) => {
      for (const row of rows) {
        expect(row, JSON.stringify(row)).toMatchObject({ reason: "retries_exhausted", attempts: 6 });
      }
    });
    // Six requests carried each event: the attempts before the stop were counted, none twice.
    const attempts = failing.attemptCounts();
    expect(
      ids.map((id) => attempts.get(id)),
      failing.report(),
    ).toEqual(ids.map(() => 6));
    expect(failing.repeatsWithinRequests(), failing.report()).toEqual([]);
  });
});
