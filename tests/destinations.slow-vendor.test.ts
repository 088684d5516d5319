import { destinationNames } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { sendBatches, useDestinations } from "./support/destinations.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { sinkScripts } from "./support/vendor-sink.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices();
const namespace = () => services.pipeline.namespace;
// One request at a time and a short ack wait: messages wait their turn far longer than ACK_WAIT_MS.
const destinations = useDestinations(services, {
  ACK_WAIT_MS: "1500",
  DELIVERY_TIMEOUT_MS: "1000",
  FORWARDER_CONCURRENCY: "1",
});

describe("destinations: a slow vendor", () => {
  it("gets every event once, though messages wait their turn longer than the ack wait", async () => {
    // 12 messages of 100 events, one request each, one at a time, 400 ms per request: the last waits ~5 s.
    const slow = await destinations.sink("webhook", sinkScripts.slow(400));
    await destinations.add("slow", { type: "webhook", url: `${slow.url}/in`, secret: "slow-secret" });
    const ids = await sendBatches(services.gateway.url, services.key, { batches: 12, size: 100, concurrency: 4 });
    await slow.waitForDelivered(ids, 30_000);
    const twice = ids.filter((id) => (slow.deliveredCounts().get(id) ?? 0) > 1);
    expect(twice, slow.report()).toEqual([]);
    expect(slow.maxInFlight, slow.report()).toBe(1);
    // Kept alive while waiting: JetStream handed each of the 12 messages out once (a redelivery, even one the
    // worker recognises and ignores, would count here).
    const { eventsStream } = services.pipeline.names;
    const consumer = await services.pipeline.jsm.consumers.info(
      eventsStream,
      destinationNames(namespace()).consumer("slow"),
    );
    expect(consumer.delivered.consumer_seq).toBe(12);
  });

  it("spaces requests by --rate without redelivering what waits, and a pause is not held up by the pace", async () => {
    const paced = await destinations.sink("webhook");
    await destinations.add("paced", { type: "webhook", url: `${paced.url}/in`, secret: "paced-secret", rate: 2 });
    const ids = await sendBatches(services.gateway.url, services.key, { batches: 6, size: 100, concurrency: 2 });
    await paced.waitForDelivered(ids, 30_000);
    const twice = ids.filter((id) => (paced.deliveredCounts().get(id) ?? 0) > 1);
    expect(twice, paced.report()).toEqual([]);

    // At one request in 100 s, a second request waits its turn: the pause does not wait with it.
    await destinations.cli.remove("paced");
    await destinations.add("crawl", { type: "webhook", url: `${paced.url}/in`, secret: "crawl-secret", rate: 0.01 });
    const before = paced.requests.length;
    await sendBatches(services.gateway.url, services.key, { batches: 2, size: 100, concurrency: 1 });
    await waitFor("the first request at that pace", () => paced.requests.length > before);
    await destinations.cli.pause("crawl");
    await destinations.forwarder.waitForLog(
      "the pause, well before the next request's turn",
      (line) => line.msg === "destination paused" && line.destination === "crawl",
      10_000,
    );
    expect(paced.requests.length, paced.report()).toBe(before + 1);
  });
});
