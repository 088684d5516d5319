import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BatchAccepted, events, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { installPoisonTrigger } from "./support/poison.ts";
import { alertRulesFile, type RunningPrometheus, startPrometheus } from "./support/prometheus.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices({ prepare: (pipeline) => installPoisonTrigger(pipeline.db) });
let running: RunningPrometheus | undefined;

function prometheus(): RunningPrometheus {
  if (!running) throw new Error("prometheus was not started");
  return running;
}

beforeAll(async () => {
  running = await startPrometheus({
    gateway: new URL(services.gateway.url).host,
    consumer: new URL(services.consumer.url).host,
  });
});

afterAll(async () => {
  await running?.stop();
});

/** Waits until the instant query returns exactly one series whose value is `expected`. */
async function waitForValue(expr: string, expected: string, timeoutMs = 30_000): Promise<void> {
  let last: unknown;
  try {
    await waitFor(
      `${expr} == ${expected}`,
      async () => {
        last = await prometheus().query(expr);
        const result = last as Array<{ value: [number, string] }>;
        return result.length === 1 && result[0]?.value[1] === expected;
      },
      { timeoutMs, intervalMs: 250 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last result: ${JSON.stringify(last)}`);
  }
}

interface ActiveTarget {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: string;
  lastError: string;
}

interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
  value: string;
}

interface AlertingRule {
  name: string;
  type: string;
  health: string;
  lastError?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

describe("a real Prometheus scraping the gateway and the consumer", () => {
  it("finds both targets up", async () => {
    let targets: ActiveTarget[] = [];
    await waitFor(
      "both targets up",
      async () => {
        ({ activeTargets: targets } = await prometheus().api<{ activeTargets: ActiveTarget[] }>("targets"));
        return targets.length === 2 && targets.every((target) => target.health === "up");
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(targets)}`);
    });
    const byJob = Object.fromEntries(targets.map((target) => [target.labels.job, target.scrapeUrl]));
    expect(byJob).toEqual({
      "evpipe-gateway": `${services.gateway.url}/metrics`,
      "evpipe-consumer": `${services.consumer.url}/metrics`,
    });
    await waitForValue('up{job="evpipe-gateway"}', "1");
    await waitForValue('up{job="evpipe-consumer"}', "1");
  });

  it("counts exactly the events the test sent, stored and accepted", async () => {
    const headers = { "x-api-key": services.key };
    const batch = await postJson<BatchAccepted>(
      services.gateway.url,
      "/v1/events/batch",
      { events: events(37) },
      headers,
    );
    expect(batch.status, JSON.stringify(batch.body)).toBe(202);
    const ids = [...batch.body.ids];
    for (let i = 0; i < 5; i++) {
      const single = await postJson<{ id: string }>(
        services.gateway.url,
        "/v1/events",
        { event: "scraped", user_id: `u-${i}` },
        headers,
      );
      expect(single.status, JSON.stringify(single.body)).toBe(202);
      ids.push(single.body.id);
    }
    expect(ids).toHaveLength(42);
    await waitFor("42 events stored", async () => (await services.pipeline.storedCount(ids)) === 42, {
      timeoutMs: 30_000,
    });

    await waitForValue('evpipe_events_stored_total{job="evpipe-consumer"}', "42");
    await waitForValue('evpipe_events_accepted_total{job="evpipe-gateway"}', "42");
    await waitForValue(
      'evpipe_http_requests_total{job="evpipe-gateway", route="/v1/events/batch", method="POST", status="202"}',
      "1",
    );
    await waitForValue(
      'evpipe_http_requests_total{job="evpipe-gateway", route="/v1/events", method="POST", status="202"}',
      "5",
    );

    // JetStream is sampled on a timer: once a sample shows the 6 messages (one per request), the lag read with
    // them comes down to 0, every message being acknowledged once stored.
    const { names } = services.pipeline;
    await waitForValue(`evpipe_stream_messages{job="evpipe-consumer", stream="${names.eventsStream}"}`, "6");
    await waitForValue(`evpipe_consumer_lag_messages{job="evpipe-consumer", consumer="${names.writerConsumer}"}`, "0");
    // The rules' ratio joins bytes and cap on the same labels: one series per capped stream, here far below 80%.
    const ratio = await prometheus().query("evpipe_stream_bytes / (evpipe_stream_max_bytes > 0)");
    const eventsRatio = ratio.find((series) => series.metric.stream === names.eventsStream);
    expect(Number(eventsRatio?.value[1]), JSON.stringify(ratio)).toBeGreaterThan(0);
    expect(Number(eventsRatio?.value[1]), JSON.stringify(ratio)).toBeLessThan(0.01);
  });

  it("loads every alert rule and evaluates each without error against the real series", async () => {
    const alertNames = [...readFileSync(alertRulesFile, "utf8").matchAll(/^\s+- alert: (\S+)$/gm)].map((m) => m[1]);
    let rules: AlertingRule[] = [];
    await waitFor(
      "every rule evaluated",
      async () => {
        const data = await prometheus().api<{ groups: Array<{ rules: AlertingRule[] }> }>("rules");
        rules = data.groups.flatMap((group) => group.rules);
        return rules.length === alertNames.length && rules.every((rule) => rule.health === "ok");
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(rules)}`);
    });
    expect(rules.map((rule) => rule.name).sort()).toEqual([...alertNames].sort());
    for (const rule of rules) {
      expect(rule.type).toBe("alerting");
      expect(["critical", "warning"], rule.name).toContain(rule.labels.severity);
      expect(Object.keys(rule.annotations).sort(), rule.name).toEqual(["description", "runbook", "summary"]);
    }
  });

  it("has every series the rules read, with the labels they match on", async () => {
    const { names } = services.pipeline;
    await waitForValue('evpipe_consumer_state{job="evpipe-consumer", state="consuming"}', "1");
    await waitForValue('evpipe_consumer_state{job="evpipe-consumer", state="stopped"}', "0");
    await waitForValue('evpipe_consumer_paused{job="evpipe-consumer"}', "0");
    await waitForValue('evpipe_dlq_messages{job="evpipe-consumer"}', "0");
    await waitForValue(
      `evpipe_stream_max_bytes{job="evpipe-consumer", stream="${names.eventsStream}"}`,
      String(512 * 1024 ** 2),
    );
    const age = await prometheus().query("time() - evpipe_jetstream_sample_timestamp_seconds");
    expect(age, JSON.stringify(age)).toHaveLength(1);
    expect(Number(age[0]?.value[1])).toBeLessThan(60);

    // Every metric the rules name exists, except the dead-letter counter: its series appear with the first
    // dead letter of a reason and code (EvpipeDeadLetterQueueNotEmpty covers that first one). The forwarder is
    // not scraped here: tests/observability.rules.test.ts checks the destination metrics against its registry.
    const known = new Set(await prometheus().api<string[]>("label/__name__/values"));
    const { groups } = await prometheus().api<{ groups: Array<{ rules: Array<{ query: string }> }> }>("rules");
    const used = new Set(
      groups
        .flatMap((group) => group.rules.flatMap((rule) => rule.query.match(/\bevpipe_\w+/g) ?? []))
        .filter((name) => !name.startsWith("evpipe_destination_")),
    );
    expect(used.size).toBe(10);
    used.delete("evpipe_dead_letters_total");
    expect([...used].filter((name) => !known.has(name))).toEqual([]);
  });

  it("fires EvpipeDeadLettersArriving for a real dead letter, the first of its reason and code", async () => {
    // The trigger fails this event's insert with SQLSTATE 22023, a permanent error: dead-lettered at once.
    const res = await postJson<{ id: string }>(
      services.gateway.url,
      "/v1/events",
      { event: "scraped", user_id: "poison-22023-scrape" },
      { "x-api-key": services.key },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await waitForValue('evpipe_dead_letters_total{job="evpipe-consumer", reason="permanent_error", code="22023"}', "1");
    let alerts: Alert[] = [];
    const firing = await waitFor(
      "EvpipeDeadLettersArriving to fire",
      async () => {
        ({ alerts } = await prometheus().api<{ alerts: Alert[] }>("alerts"));
        return alerts.find((alert) => alert.labels.alertname === "EvpipeDeadLettersArriving");
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(alerts)}`);
    });
    expect(firing.state).toBe("firing");
    expect(firing.labels).toEqual({
      alertname: "EvpipeDeadLettersArriving",
      severity: "warning",
      job: "evpipe-consumer",
      instance: new URL(services.consumer.url).host,
      reason: "permanent_error",
      code: "22023",
    });
    expect(firing.annotations.summary).toBe("Dead letters arriving: reason permanent_error, code 22023");
    expect(firing.annotations.runbook).toContain("pnpm ops dlq list --reason permanent_error");
  });
});
