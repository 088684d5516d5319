import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createForwarderMetrics, requestOutcomes } from "../services/forwarder/src/metrics.ts";
import { alertRulesFile, alertRulesTestFile, runPromtool } from "./support/prometheus.ts";

const rulesText = readFileSync(alertRulesFile, "utf8");
const testsText = readFileSync(alertRulesTestFile, "utf8");
const alertNames = [...rulesText.matchAll(/^\s+- alert: (\S+)$/gm)].map((match) => match[1] as string);

/**
 * Each change breaks what a rule is for; alerts.test.yml must then fail on that alert. A rule whose tests still
 * pass after such a change is not tested for that behaviour.
 */
const breakages: Array<{ alert: string; breaks: string; from: string; to: string }> = [
  {
    alert: "EvpipeTargetDown",
    breaks: "forgets the forwarder",
    from: 'up{job=~"evpipe-gateway|evpipe-consumer|evpipe-forwarder"}',
    to: 'up{job=~"evpipe-gateway|evpipe-consumer"}',
  },
  {
    alert: "EvpipeConsumerLagGrowing",
    breaks: "fires for a consumer catching up",
    from: " and delta(evpipe_consumer_lag_messages[5m]) >= 0",
    to: "",
  },
  {
    alert: "EvpipeDeadLettersArriving",
    breaks: "misses the first dead letter of a reason and code",
    from: "or sum by (job, instance, reason, code) (evpipe_dead_letters_total unless evpipe_dead_letters_total offset 5m) > 0",
    to: "",
  },
  {
    alert: "EvpipeDestinationLagGrowing",
    breaks: "fires for a destination catching up",
    from: " and delta(evpipe_destination_lag[5m]) >= 0",
    to: "",
  },
  {
    alert: "EvpipeDestinationLagGrowing",
    breaks: "fires for a paused destination",
    from: "unless on (job, instance, destination) evpipe_destination_paused == 1",
    to: "",
  },
  {
    alert: "EvpipeDestinationDeadLettersArriving",
    breaks: "misses the first dead letter of a destination and reason",
    from: "or sum by (job, instance, destination, reason) (evpipe_destination_events_failed_total unless evpipe_destination_events_failed_total offset 5m) > 0",
    to: "",
  },
  {
    alert: "EvpipeDestinationNotDelivering",
    breaks: "fires while some requests get a 2xx",
    from: 'unless on (job, instance, destination) sum by (job, instance, destination) (increase(evpipe_destination_requests_total{outcome="2xx"}[5m])) > 0',
    to: "",
  },
  {
    alert: "EvpipeDestinationNotDelivering",
    breaks: "fires for a partial refusal that delivers the other events",
    from: "unless on (job, instance, destination) time() - evpipe_destination_last_success_timestamp_seconds < 300",
    to: "",
  },
  {
    alert: "EvpipeDestinationNotDelivering",
    breaks: "waits 10 minutes more",
    from: "evpipe_destination_last_success_timestamp_seconds < 300",
    to: "evpipe_destination_last_success_timestamp_seconds < 900",
  },
  {
    alert: "EvpipeDestinationLagSampleStale",
    breaks: "lets a sample grow 10 minutes old",
    from: "time() - evpipe_destination_lag_sample_timestamp_seconds > 60",
    to: "time() - evpipe_destination_lag_sample_timestamp_seconds > 600",
  },
];

describe("alert rules", () => {
  it("are valid for promtool check rules", async () => {
    const result = await runPromtool(["check", "rules", alertRulesFile]);
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain(`SUCCESS: ${alertNames.length} rules found`);
  });

  it("pass their promtool unit tests", async () => {
    const result = await runPromtool(["test", "rules", alertRulesTestFile]);
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain("SUCCESS");
    expect(`${result.stdout}${result.stderr}`).not.toContain("FAILED");
  });

  it("each have a unit test where they fire and one where they must not", () => {
    expect(alertNames.length).toBe(15);
    for (const name of alertNames) {
      expect(testsText, `${name} never fires in alerts.test.yml`).toMatch(
        new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels:`),
      );
      expect(testsText, `${name} is never held back in alerts.test.yml`).toMatch(
        new RegExp(`alertname: ${name}\\n\\s+exp_alerts: \\[\\]`),
      );
    }
  });

  it.each(breakages)("fail their unit tests when $alert $breaks", async ({ alert, from, to }) => {
    expect(rulesText.split(from), `"${from}" is not in alerts.yml exactly once`).toHaveLength(2);
    const dir = mkdtempSync(path.join(tmpdir(), "evp-rules-"));
    try {
      const rules = path.join(dir, "alerts.yml");
      writeFileSync(rules, rulesText.replace(from, to));
      writeFileSync(path.join(dir, "alerts.test.yml"), testsText);
      // Still valid rules: the unit tests, not promtool's parser, must be what catches the change.
      const check = await runPromtool(["check", "rules", rules]);
      expect(check.code, `${check.stdout}${check.stderr}`).toBe(0);
      const result = await runPromtool(["test", "rules", path.join(dir, "alerts.test.yml")]);
      const output = `${result.stdout}${result.stderr}`;
      expect(result.code, output).not.toBe(0);
      expect(output).toContain("FAILED");
      expect(output).toContain(`alertname: ${alert},`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // The forwarder is not scraped by tests/metrics.prometheus.test.ts, so its names are checked against its registry.
  it("name only destination metrics and request outcomes the forwarder exports", async () => {
    const exported = new Set((await createForwarderMetrics().registry.getMetricsAsJSON()).map((metric) => metric.name));
    const named = new Set(rulesText.match(/\bevpipe_destination_\w+/g));
    expect([...named].filter((name) => !exported.has(name))).toEqual([]);
    expect(named.size).toBe(8);
    const outcomes = [...rulesText.matchAll(/\boutcome!?="([^"]+)"/g)].map((match) => match[1]);
    expect(outcomes.length).toBeGreaterThan(0);
    for (const outcome of outcomes) expect(requestOutcomes).toContain(outcome);
  });
});
