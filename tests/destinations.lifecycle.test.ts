import { destinationNames } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { destinationLog, logAfter, metricReaches, sendBatches, useDestinations } from "./support/destinations.ts";
import { type BatchAccepted, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { runService } from "./support/processes.ts";
import type { VendorSink } from "./support/vendor-sink.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices();
const destinations = useDestinations(services);
const sorted = (ids: Iterable<string>) => [...ids].sort();

const lag = (destination: string, expected: number) =>
  metricReaches(destinations.forwarder.url, "evpipe_destination_lag", { destination }, (v) => v === expected);

async function post(names: string[], prefix: string): Promise<Array<{ id: string; event: string }>> {
  const res = await postJson<BatchAccepted>(
    services.gateway.url,
    "/v1/events/batch",
    { events: names.map((event, i) => ({ event, user_id: `${prefix}-${i}` })) },
    { "x-api-key": services.key },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.ids.map((id, i) => ({ id, event: names[i] as string }));
}

async function storedAll(ids: readonly string[]) {
  await waitFor(`${ids.length} events stored`, async () => (await services.pipeline.storedCount(ids)) === ids.length);
}

/** Every id the sink took, each once: the test fails on a duplicate. */
function deliveredOnce(sink: VendorSink): string[] {
  const counts = sink.deliveredCounts();
  const twice = [...counts].filter(([, n]) => n > 1);
  expect(twice, sink.report()).toEqual([]);
  return [...counts.keys()];
}

describe("destinations: lifecycle", () => {
  it("pause keeps the position: events sent while paused arrive only after resume, none skipped or repeated", async () => {
    const hook = await destinations.sink("webhook");
    await destinations.add("pausable", { type: "webhook", url: `${hook.url}/in`, secret: "pausable-secret" });
    const before = await sendBatches(services.gateway.url, services.key, { batches: 4, size: 10 });
    await hook.waitForDelivered(before);
    await lag("pausable", 0);

    const forwarder = destinations.forwarder;
    let mark = forwarder.lines.length;
    await destinations.cli.pause("pausable");
    await logAfter(forwarder, mark, "destination paused", destinationLog("destination paused", "pausable"));
    await metricReaches(forwarder.url, "evpipe_destination_paused", { destination: "pausable" }, (v) => v === 1);
    const requestsWhilePaused = hook.requests.length;
    const during = await sendBatches(services.gateway.url, services.key, { batches: 6, size: 10 });
    await storedAll(during);
    // Its consumer holds all six messages where it stopped.
    await lag("pausable", 6);
    const listed = (await destinations.cli.list()).find((row) => row.name === "pausable");
    expect(listed, JSON.stringify(listed)).toMatchObject({ paused: true, lag: 6 });
    expect(hook.requests.length, hook.report()).toBe(requestsWhilePaused);

    mark = forwarder.lines.length;
    const resumedAt = Date.now();
    await destinations.cli.resume("pausable");
    await logAfter(forwarder, mark, "destination started", destinationLog("destination started", "pausable"));
    await hook.waitForDelivered(during);
    await lag("pausable", 0);
    await metricReaches(forwarder.url, "evpipe_destination_paused", { destination: "pausable" }, (v) => v === 0);
    expect(sorted(deliveredOnce(hook))).toEqual(sorted([...before, ...during]));
    const carrying = hook.requests.filter((request) => request.ids.some((id) => during.includes(id)));
    expect(Math.min(...carrying.map((request) => request.at)), hook.report()).toBeGreaterThanOrEqual(resumedAt);
  });

  it("--events forwards only those event names, and the others are passed over, not left pending", async () => {
    const hook = await destinations.sink("webhook");
    await destinations.add("only-some", {
      type: "webhook",
      url: `${hook.url}/in`,
      secret: "only-some-secret",
      events: ["signup", "purchase"],
    });
    const names = ["signup", "page_view", "purchase", "logout", "signup", "page_view"];
    const sent = [...(await post(names, "filter-a")), ...(await post(["page_view", "logout"], "filter-b"))];
    const wanted = sent.filter((e) => e.event === "signup" || e.event === "purchase").map((e) => e.id);
    await hook.waitForDelivered(wanted);
    await lag("only-some", 0);
    expect(sorted(deliveredOnce(hook))).toEqual(sorted(wanted));
    const delivered = hook.requests.flatMap((r) => (r.json as { events: Array<{ event: string }> }).events);
    expect(new Set(delivered.map((event) => event.event))).toEqual(new Set(["signup", "purchase"]));
  });

  it("a destination added with --from gets the events since that time; one added without it only new events", async () => {
    const from = new Date();
    const earlier = (await post(["early-1", "early-2", "early-3"], "from-early")).map((e) => e.id);
    await storedAll(earlier);
    const late = await destinations.sink("webhook");
    const fresh = await destinations.sink("webhook");
    await destinations.add("since", {
      type: "webhook",
      url: `${late.url}/in`,
      secret: "since-secret",
      from: from.toISOString(),
    });
    await destinations.add("fresh", { type: "webhook", url: `${fresh.url}/in`, secret: "fresh-secret" });
    const later = (await post(["later-1", "later-2"], "from-later")).map((e) => e.id);

    await late.waitForDelivered([...earlier, ...later]);
    await fresh.waitForDelivered(later);
    await Promise.all([lag("since", 0), lag("fresh", 0)]);
    // Nothing from before --from (the earlier tests' events), and nothing from before its add for "fresh".
    expect(sorted(deliveredOnce(late))).toEqual(sorted([...earlier, ...later]));
    expect(sorted(deliveredOnce(fresh))).toEqual(sorted(later));
  });

  it("remove stops the destination and deletes its consumers; added again, it starts afresh", async () => {
    const forwarder = destinations.forwarder;
    const mark = forwarder.lines.length;
    await destinations.cli.remove("pausable");
    await logAfter(forwarder, mark, "destination stopped", destinationLog("destination stopped", "pausable"));
    const names = destinationNames(services.pipeline.namespace);
    for (const stream of [services.pipeline.names.eventsStream, names.replayStream]) {
      await waitFor(`its durable consumer of ${stream} deleted`, async () => {
        const found = await services.pipeline.jsm.consumers
          .info(stream, names.consumer("pausable"))
          .then(() => true)
          .catch(() => false);
        return !found;
      });
    }
    expect((await destinations.cli.list()).map((row) => row.name)).toEqual(["fresh", "only-some", "since"]);

    const whileRemoved = await sendBatches(services.gateway.url, services.key, { batches: 2, size: 5 });
    await storedAll(whileRemoved);
    const again = await destinations.sink("webhook");
    await destinations.add("pausable", { type: "webhook", url: `${again.url}/in`, secret: "pausable-secret-2" });
    const after = await sendBatches(services.gateway.url, services.key, { batches: 2, size: 5 });
    await again.waitForDelivered(after);
    await lag("pausable", 0);
    expect(sorted(deliveredOnce(again))).toEqual(sorted(after));
    // Its counts are the new destination's, not the removed one's.
    await waitFor("list to count the new destination's deliveries", async () => {
      const row = (await destinations.cli.list()).find((r) => r.name === "pausable");
      if (row?.delivered !== after.length || row.failed !== 0 || row.retried !== 0)
        throw new Error(JSON.stringify(row));
      return true;
    });
  });

  it("--rate spaces the requests to the vendor at least 1/rate seconds apart", async () => {
    const hook = await destinations.sink("webhook");
    await destinations.add("paced", { type: "webhook", url: `${hook.url}/in`, secret: "paced-secret", rate: 5 });
    // 100 events fill one webhook request: eight requests at most 5 per second.
    const ids = await sendBatches(services.gateway.url, services.key, { batches: 8, size: 100, concurrency: 8 });
    await hook.waitForDelivered(ids);
    const times = hook.requests.map((request) => request.at);
    expect(times.length, hook.report()).toBeGreaterThanOrEqual(8);
    // Paced 200 ms apart when sent. The first request on a connection arrives only once the connection is open,
    // which on a loaded machine took over 150 ms: a span measured from it may be short by that much. Spans from a
    // request on a connection already open are (their distance) x 200 ms, less at most 150 ms of jitter.
    const opened = new Set<number>();
    const onOpenConnection = hook.requests.map((request) => opened.has(request.socket) || !opened.add(request.socket));
    expect(onOpenConnection.filter(Boolean).length, hook.report()).toBeGreaterThanOrEqual(4);
    for (let i = 0; i < times.length; i++) {
      if (!onOpenConnection[i]) continue;
      for (let j = i + 1; j < times.length; j++) {
        const span = (times[j] as number) - (times[i] as number);
        expect(span, `requests ${i} and ${j} of ${JSON.stringify(times)}`).toBeGreaterThanOrEqual((j - i) * 200 - 150);
      }
    }
    expect(sorted(deliveredOnce(hook))).toEqual(sorted(ids));
  });

  it("refuses to start without DESTINATION_SECRETS_KEY, in one line naming it", async () => {
    const env = services.pipeline.serviceEnv({ HEALTH_PORT: "0" });
    const { code, stdout, stderr } = await runService("forwarder", env);
    expect(code, stdout + stderr).toBe(1);
    const lines = `${stdout}${stderr}`.split("\n").filter((line) => line.trim() !== "");
    expect(lines, stdout + stderr).toHaveLength(1);
    expect(lines[0]).toContain("DESTINATION_SECRETS_KEY");
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
