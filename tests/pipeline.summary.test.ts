import { randomUUID } from "node:crypto";
import { decodePipelineReport, openPipelineReportsBucket } from "@evpipe/shared";
import type { PipelineSummary } from "@evpipe/shared/api-responses";
import { describe, expect, it } from "vitest";
import { useDestinations } from "./support/destinations.ts";
import { type BatchAccepted, pipelineSummaryWhere, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { installPoisonTrigger, removePoisonTrigger } from "./support/poison.ts";
import { runOps } from "./support/processes.ts";
import { sinkScripts } from "./support/vendor-sink.ts";
import { waitFor } from "./support/wait-for.ts";

// Reports every 200 ms: a rate is taken over 1 s, an instance is gone after 600 ms without one. Metrics off:
// what the reports count must not depend on them.
const reportEvery = { PIPELINE_REPORT_INTERVAL_MS: "200", METRICS_ENABLED: "false" };
const services = usePipelineServices({
  key: { scopes: ["ingest", "read"] },
  gatewayEnv: { ...reportEvery, PIPELINE_SAMPLE_INTERVAL_MS: "200" },
  // 10 ms units: a transiently failing event is dead-lettered after ~3.6 s of retries.
  consumerEnv: { ...reportEvery, RETRY_DELAY_UNIT_MS: "10" },
  prepare: (pipeline) => installPoisonTrigger(pipeline.db),
});
const destinations = useDestinations(services);

/** Requests accepted so far: one EVENTS message each. */
let requests = 0;

async function send(users: string[]): Promise<string[]> {
  const batch = { events: users.map((user_id) => ({ event: "summary", user_id })) };
  const res = await postJson<BatchAccepted>(services.gateway.url, "/v1/events/batch", batch, {
    "x-api-key": services.key,
  });
  if (res.status !== 202) throw new Error(`${res.status} ${JSON.stringify(res.body)}`);
  requests++;
  return res.body.ids;
}

const summaryWhere = (what: string, done: (s: PipelineSummary) => boolean, timeoutMs?: number) =>
  pipelineSummaryWhere(services.gateway.url, services.key, what, done, timeoutMs);

/** What the gateway's report (accepted_per_second's source) counts as accepted, in one written at or after `since`. */
async function acceptedSince(since: number): Promise<number> {
  const kv = await openPipelineReportsBucket(services.pipeline.js, services.pipeline.names);
  const { accepted } = await waitFor(`a gateway report written after ${new Date(since).toISOString()}`, async () => {
    const keys: string[] = [];
    for await (const key of await kv.keys("gateway.>")) keys.push(key);
    if (keys.length !== 1) throw new Error(`expected one gateway's report, found ${keys.length}`);
    const entry = await kv.get(keys[0] as string);
    const report = entry && decodePipelineReport(entry.value);
    // An object: a count of 0 is an answer too.
    return report?.role === "gateway" && report.at >= since && { accepted: report.accepted };
  });
  return accepted;
}

const opsEnv = () => services.pipeline.serviceEnv({ LOG_LEVEL: "warn" });

async function ops(...args: string[]): Promise<void> {
  const result = await runOps(args, opsEnv());
  if (result.code !== 0) throw new Error(`ops ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
}

describe("GET /v1/pipeline over real services", () => {
  it("says exactly what was accepted, stored, dead-lettered for each reason and forwarded", async () => {
    const hook = await destinations.sink("webhook");
    const refuser = await destinations.sink("webhook", sinkScripts.always(400));
    await destinations.add("hook", { type: "webhook", url: hook.url, secret: "hook-secret-1" });
    await destinations.add("refuser", { type: "webhook", url: refuser.url, secret: "refuser-secret-2" });

    const healthy: string[] = [];
    for (let i = 0; i < 3; i++) healthy.push(...(await send([0, 1, 2, 3].map((n) => `user-${i}-${n}`))));
    const [mixedHealthy = ""] = await send(["user-mixed", "poison-23514-p"]);
    await send(["poison-40001-t"]);
    healthy.push(mixedHealthy);
    const events = 12 + 2 + 1;
    await waitFor("the healthy events stored", async () => (await services.pipeline.storedCount(healthy)) === 13);

    const settled = await summaryWhere(
      "the dead letters of both reasons, and the destinations done",
      (s) =>
        s.dead_letters.messages === 2 &&
        s.writer?.lag === 0 &&
        s.destinations.every((d) => d.lag === 0) &&
        s.destinations.find((d) => d.name === "hook")?.delivered === events &&
        s.destinations.find((d) => d.name === "refuser")?.failed === events,
      30_000,
    );
    expect(settled.events_stream).toMatchObject({ messages: requests, max_bytes: 512 * 1024 ** 2 });
    expect(settled.events_stream.bytes).toBeGreaterThan(0);
    expect(settled.writer).toEqual({ lag: 0, pending: 0, unacknowledged: 0 });
    expect(settled.dead_letters).toEqual({ messages: 2, by_reason: { retries_exhausted: 1, permanent_error: 1 } });
    const destination = { type: "webhook", state: "active", lag: 0, retried: 0 };
    expect(settled.destinations).toEqual([
      {
        ...destination,
        name: "hook",
        delivered: events,
        failed: 0,
        dead_letters: 0,
        last_success_at: expect.any(String),
        last_error: null,
      },
      {
        ...destination,
        name: "refuser",
        delivered: 0,
        failed: events,
        // One dead letter per EVENTS message: per request.
        dead_letters: requests,
        last_success_at: null,
        last_error: { at: expect.any(String), message: expect.any(String) },
      },
    ]);
    expect(settled.ingest).toMatchObject({ gateways: 1, consumers: 1 });
    expect(Date.now() - Date.parse(settled.sampled_at)).toBeLessThan(10_000);
    expect(settled.refresh_ms).toBe(200);
    const text = JSON.stringify(settled);
    for (const secret of [hook.url, refuser.url, "hook-secret-1", "refuser-secret-2", "127.0.0.1"]) {
      expect(text).not.toContain(secret);
    }
  });

  it("shows a purge and a replay of dead letters in by_reason (pnpm ops dlq)", async () => {
    // The retries_exhausted dead letter came last: purging it deletes the stream's last message, not its first.
    await ops("dlq", "purge", "--reason", "retries_exhausted", "--yes");
    const purged = await summaryWhere("the purge", (s) => s.dead_letters.messages === 1);
    expect(purged.dead_letters).toEqual({ messages: 1, by_reason: { retries_exhausted: 0, permanent_error: 1 } });

    await removePoisonTrigger(services.pipeline.db);
    await ops("dlq", "replay", "--reason", "permanent_error");
    const replayed = await summaryWhere(
      "the replay stored",
      (s) => s.dead_letters.messages === 0 && s.events_stream.messages === requests + 1 && s.writer?.lag === 0,
    );
    expect(replayed.dead_letters).toEqual({ messages: 0, by_reason: { retries_exhausted: 0, permanent_error: 0 } });
  });

  it("has ingest rates above 0 while load runs, and 0 once a quiet window has passed", async () => {
    let running = true;
    const load = (async () => {
      for (let batch = 0; running; batch++) {
        await send(Array.from({ length: 20 }, (_, i) => `load-${batch}-${i}`));
      }
    })();
    try {
      const busy = await summaryWhere(
        "rates under load",
        (s) => (s.ingest.accepted_per_second ?? 0) > 0 && (s.ingest.stored_per_second ?? 0) > 0,
      );
      expect(busy.ingest).toMatchObject({ gateways: 1, consumers: 1 });
    } finally {
      running = false;
      await load;
    }
    const quiet = await summaryWhere(
      "rates back to 0",
      (s) => s.writer?.lag === 0 && s.ingest.accepted_per_second === 0 && s.ingest.stored_per_second === 0,
    );
    expect(quiet.ingest).toEqual({ accepted_per_second: 0, stored_per_second: 0, gateways: 1, consumers: 1 });
    expect(quiet.events_stream.messages).toBe(requests + 1);
  });

  it("counts a client's retry of a stored batch (same ids, a JetStream duplicate) once in what was accepted", async () => {
    const before = await acceptedSince(Date.now());
    const batch = { events: [0, 1, 2].map((n) => ({ id: randomUUID(), event: "summary", user_id: `retry-${n}` })) };
    const post = () =>
      postJson<BatchAccepted>(services.gateway.url, "/v1/events/batch", batch, { "x-api-key": services.key });
    const first = await post();
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    requests++;
    // The SDK's retry after a lost answer: acknowledged again, stored once.
    const retry = await post();
    expect(retry.status, JSON.stringify(retry.body)).toBe(202);
    expect(retry.body.ids).toEqual(first.body.ids);
    const retriedAt = Date.now();
    expect((await acceptedSince(retriedAt)) - before).toBe(3);
    const sampled = await summaryWhere("a sample after the retry", (s) => Date.parse(s.sampled_at) >= retriedAt);
    expect(sampled.events_stream.messages).toBe(requests + 1);
  });
});
