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

describe("loadConsumerConfig: ack wait and query timeout", () => {
  it("lets a crashed consumer's messages go after 5 s and gives a statement 10 s by default", () => {
    expect(loadConsumerConfig({})).toMatchObject({ ackWaitMs: 5000, dbQueryTimeoutMs: 10_000 });
  });

  it("takes a query timeout longer than the ack wait: the messages of a write are kept alive meanwhile", () => {
    const config = loadConsumerConfig({ ACK_WAIT_MS: "2000", DB_QUERY_TIMEOUT_MS: "30000" });
    expect(config).toMatchObject({ ackWaitMs: 2000, dbQueryTimeoutMs: 30_000 });
  });

  it("names each bad variable", () => {
    const load = () => loadConsumerConfig({ ACK_WAIT_MS: "500", DB_QUERY_TIMEOUT_MS: "soon" });
    expect(load).toThrow(
      "invalid configuration: ACK_WAIT_MS: must be a whole number from 1000 to 600000; " +
        "DB_QUERY_TIMEOUT_MS: must be a whole number from 100 to 600000",
    );
  });
});

describe("loadConsumerConfig: write linger", () => {
  it("lets a write that is not full wait 20 ms by default, and reads CONSUMER_WRITE_LINGER_MS (0 turns it off)", () => {
    expect(loadConsumerConfig({}).consumerWriteLingerMs).toBe(20);
    expect(loadConsumerConfig({ CONSUMER_WRITE_LINGER_MS: "0" }).consumerWriteLingerMs).toBe(0);
  });

  it("names a bad CONSUMER_WRITE_LINGER_MS", () => {
    expect(() => loadConsumerConfig({ CONSUMER_WRITE_LINGER_MS: "1001" })).toThrow(
      "invalid configuration: CONSUMER_WRITE_LINGER_MS: must be a whole number from 0 to 1000",
    );
  });
});

describe("loadConsumerConfig: pipeline report", () => {
  it("reports every 2 s by default, and reads PIPELINE_REPORT_INTERVAL_MS", () => {
    expect(loadConsumerConfig({})).toMatchObject({ pipelineReportIntervalMs: 2000 });
    expect(loadConsumerConfig({ PIPELINE_REPORT_INTERVAL_MS: "250" })).toMatchObject({ pipelineReportIntervalMs: 250 });
    expect(() => loadConsumerConfig({ PIPELINE_REPORT_INTERVAL_MS: "50" })).toThrow(
      "invalid configuration: PIPELINE_REPORT_INTERVAL_MS: must be a whole number from 100 to 60000",
    );
  });
});
