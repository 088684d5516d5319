import { ConfigError } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { loadConsumerConfig } from "./config.ts";

describe("loadConsumerConfig: metrics", () => {
  it("measures by default and samples JetStream every 5 s", () => {
    expect(loadConsumerConfig({})).toMatchObject({ metricsEnabled: true, metricsSampleIntervalMs: 5000 });
  });

  it("reads METRICS_ENABLED and METRICS_SAMPLE_INTERVAL_MS", () => {
    const config = loadConsumerConfig({ METRICS_ENABLED: "false", METRICS_SAMPLE_INTERVAL_MS: "250" });
    expect(config).toMatchObject({ metricsEnabled: false, metricsSampleIntervalMs: 250 });
  });

  it("names each bad metrics variable", () => {
    const load = () => loadConsumerConfig({ METRICS_ENABLED: "yes", METRICS_SAMPLE_INTERVAL_MS: "10" });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      "invalid configuration: METRICS_ENABLED: must be true or false; " +
        "METRICS_SAMPLE_INTERVAL_MS: must be a whole number from 100 to 30000",
    );
  });
});
