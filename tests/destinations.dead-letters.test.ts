import { destinationNames } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import {
  type DestinationDeadLetterRow,
  metricReaches,
  metricValue,
  sendBatches,
  useDestinations,
} from "./support/destinations.ts";
import { freePort } from "./support/free-port.ts";
import { type BatchAccepted, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { sinkScripts, type VendorSink } from "./support/vendor-sink.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices();
// 3^n x 10 ms: five retries take 3.6 s; a vendor that never answers is given up on after 1 s.
const destinations = useDestinations(services, { RETRY_DELAY_UNIT_MS: "10", DELIVERY_TIMEOUT_MS: "1000" });
const names = () => destinationNames(services.pipeline.namespace);
const sorted = (ids: Iterable<string>) => [...ids].sort();

/** Until `destinations dlq NAME list --json` holds `count` events. */
async function deadLetters(name: string, count: number): Promise<DestinationDeadLetterRow[]> {
  let rows: DestinationDeadLetterRow[] = [];
  await waitFor(
    `${count} dead-lettered events of ${name}`,
    async () => {
      rows = await destinations.cli.dlqList(name);
      if (rows.length !== count) throw new Error(`${rows.length}: ${JSON.stringify(rows.slice(0, 3))}`);
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  return rows;
}

const failedMetric = (destination: string, reason: string) =>
  metricValue(destinations.forwarder.url, "evpipe_destination_events_failed_total", { destination, reason });
const lagZero = (destination: string) =>
  metricReaches(destinations.forwarder.url, "evpipe_destination_lag", { destination }, (v) => v === 0);
const replayLastSeq = async () => (await services.pipeline.jsm.streams.info(names().replayStream)).state.last_seq;
const onceEach = (sink: VendorSink, ids: readonly string[]) => ids.map((id) => sink.deliveredCounts().get(id) ?? 0);

async function post(events: Array<{ event: string; user_id: string }>): Promise<string[]> {
  const res = await postJson<BatchAccepted>(
    services.gateway.url,
    "/v1/events/batch",
    { events },
    { "x-api-key": services.key },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.ids;
}

describe("destinations: dead letters", () => {
  it("a 400 dead-letters the events for that destination only; a replay after the fix delivers them once", async () => {
    const strict = await destinations.sink("webhook", sinkScripts.always(400));
    const fine = await destinations.sink("webhook");
    await destinations.add("strict", { type: "webhook", url: `${strict.url}/in`, secret: "strict-secret" });
    await destinations.add("fine", { type: "webhook", url: `${fine.url}/in`, secret: "fine-secret" });

    const ids = await sendBatches(services.gateway.url, services.key, { batches: 6, size: 8, concurrency: 3 });
    await fine.waitForDelivered(ids);
    const rows = await deadLetters("strict", ids.length);
    expect(sorted(rows.map((row) => row.event_id))).toEqual(sorted(ids));
    for (const row of rows) {
      expect(row, JSON.stringify(row)).toMatchObject({ reason: "permanent_error", code: "HTTP_400", attempts: 1 });
    }
    expect(await destinations.cli.dlqList("fine")).toEqual([]);
    // A permanent error is not retried: one attempt per event.
    expect([...new Set(strict.attemptCounts().values())], strict.report()).toEqual([1]);
    expect(
      onceEach(fine, ids).every((n) => n === 1),
      fine.report(),
    ).toBe(true);
    expect(await failedMetric("strict", "permanent_error")).toBe(ids.length);
    await lagZero("strict");

    strict.answerWith(sinkScripts.ok());
    const published = await services.pipeline.publishedCount();
    const fineRequests = fine.requests.length;
    const replayed = await destinations.cli.dlqReplay("strict");
    expect(replayed, JSON.stringify(replayed)).toMatchObject({ messages: 6, events: ids.length });
    await strict.waitForDelivered(ids);
    expect(
      onceEach(strict, ids).every((n) => n === 1),
      strict.report(),
    ).toBe(true);
    expect(await destinations.cli.dlqList("strict")).toEqual([]);
    await lagZero("strict");
    // Replayed to that destination alone: nothing republished to EVENTS, nothing more for the other one.
    expect(await services.pipeline.publishedCount()).toBe(published);
    expect(fine.requests.length, fine.report()).toBe(fineRequests);
    expect(await services.pipeline.storedCount(ids)).toBe(ids.length);

    const replaySeq = await replayLastSeq();
    const again = await destinations.cli.dlqReplay("strict");
    expect(again, JSON.stringify(again)).toMatchObject({ messages: 0, events: 0 });
    expect(await replayLastSeq()).toBe(replaySeq);
    expect(
      onceEach(strict, ids).every((n) => n === 1),
      strict.report(),
    ).toBe(true);
  });

  it("exhausted retries (503s, a refused connection, no answer) dead-letter after six attempts", async () => {
    const unavailable = await destinations.sink("webhook", sinkScripts.always(503));
    const silent = await destinations.sink("webhook", sinkScripts.hang());
    const port = await freePort();
    await destinations.add("unavailable", { type: "webhook", url: `${unavailable.url}/in`, secret: "s-unavailable" });
    await destinations.add("refused", { type: "webhook", url: `http://127.0.0.1:${port}/in`, secret: "s-refused" });
    await destinations.add("silent", { type: "webhook", url: `${silent.url}/in`, secret: "s-silent" });

    const ids = await sendBatches(services.gateway.url, services.key, { batches: 4, size: 5, concurrency: 4 });
    const expected = { unavailable: "HTTP_503", refused: "ECONNREFUSED", silent: "TIMEOUT" };
    for (const [name, code] of Object.entries(expected)) {
      const rows = await deadLetters(name, ids.length);
      expect(sorted(rows.map((row) => row.event_id))).toEqual(sorted(ids));
      for (const row of rows) {
        expect(row, JSON.stringify(row)).toMatchObject({ reason: "retries_exhausted", code, attempts: 6 });
      }
      expect(await failedMetric(name, "retries_exhausted")).toBe(ids.length);
      await lagZero(name);
    }
    // The first attempt and five retries, each of them a request carrying the event.
    for (const sink of [unavailable, silent]) {
      const attempts = sink.attemptCounts();
      expect(
        ids.map((id) => attempts.get(id)),
        sink.report(),
      ).toEqual(ids.map(() => 6));
    }
  });

  it("Mixpanel's partial 400 dead-letters only the events it refused; the rest are delivered once", async () => {
    const mixpanel = await destinations.sink(
      "mixpanel",
      sinkScripts.mixpanelRefusing((event) => event.name === "refused"),
    );
    await destinations.add("mp", { type: "mixpanel", url: mixpanel.url, secret: "mp-token" });
    const names = ["taken", "refused", "taken", "taken", "refused", "taken"];
    const ids = [
      ...(await post(names.map((event, i) => ({ event, user_id: `mp-a-${i}` })))),
      ...(await post(names.map((event, i) => ({ event, user_id: `mp-b-${i}` })))),
    ];
    const refused = ids.filter((_, i) => names[i % names.length] === "refused");
    const taken = ids.filter((id) => !refused.includes(id));

    await mixpanel.waitForDelivered(taken);
    const rows = await deadLetters("mp", refused.length);
    expect(sorted(rows.map((row) => row.event_id))).toEqual(sorted(refused));
    for (const row of rows)
      expect(row, JSON.stringify(row)).toMatchObject({ reason: "permanent_error", code: "HTTP_400" });
    expect(
      onceEach(mixpanel, taken).every((n) => n === 1),
      mixpanel.report(),
    ).toBe(true);
    expect(onceEach(mixpanel, refused), mixpanel.report()).toEqual(refused.map(() => 0));

    mixpanel.answerWith(sinkScripts.ok());
    await destinations.cli.dlqReplay("mp");
    await mixpanel.waitForDelivered(refused);
    expect(
      onceEach(mixpanel, ids).every((n) => n === 1),
      mixpanel.report(),
    ).toBe(true);
    expect(await destinations.cli.dlqList("mp")).toEqual([]);
  });
});
