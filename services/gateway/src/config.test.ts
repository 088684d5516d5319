import { ConfigError, defaultEventLimits, defaultStreamSettings } from "@evpipe/shared";
import { describe, expect, expectTypeOf, it } from "vitest";
import { type GatewayConfig, loadGatewayConfig } from "./config.ts";

describe("loadGatewayConfig", () => {
  it("gives every field its default when nothing is set, each of the gateway's own under its camelCase name", () => {
    expect(loadGatewayConfig({})).toEqual({
      natsUrl: "nats://127.0.0.1:4222",
      databaseUrl: "postgres://postgres@127.0.0.1:5432/events",
      namespace: undefined,
      logLevel: "info",
      limits: defaultEventLimits,
      streams: defaultStreamSettings,
      port: 8080,
      publishTimeoutMs: 3000,
      publishMaxInFlight: 4096,
      shutdownTimeoutMs: 15_000,
      requestTimeoutMs: 30_000,
      keyUsageFlushMs: 30_000,
      metricsEnabled: true,
      pipelineSampleIntervalMs: 2000,
      pipelineDlqTallyMax: 100_000,
      pipelineReportIntervalMs: 2000,
    });
    expectTypeOf<GatewayConfig["keyUsageFlushMs"]>().toEqualTypeOf<number>();
  });

  it("reads each variable, treating an empty one as unset and ignoring unknown ones", () => {
    const config = loadGatewayConfig({ PORT: "9090", PUBLISH_MAX_IN_FLIGHT: "", MAX_BODY_BYTES: "2048", HOME: "/x" });
    expect(config).toMatchObject({ port: 9090, publishMaxInFlight: 4096, limits: { maxBodyBytes: 2048 } });
    expect(config).not.toHaveProperty("home");
  });

  it("turns metrics off only with METRICS_ENABLED=false, and refuses any other word", () => {
    expect(loadGatewayConfig({ METRICS_ENABLED: "false" }).metricsEnabled).toBe(false);
    expect(loadGatewayConfig({ METRICS_ENABLED: "true" }).metricsEnabled).toBe(true);
    expect(() => loadGatewayConfig({ METRICS_ENABLED: "no" })).toThrow(
      "invalid configuration: METRICS_ENABLED: must be true or false",
    );
  });

  it("reads the pipeline summary's variables, and names a bad one", () => {
    const config = loadGatewayConfig({ PIPELINE_SAMPLE_INTERVAL_MS: "500", PIPELINE_DLQ_TALLY_MAX: "0" });
    expect(config).toMatchObject({ pipelineSampleIntervalMs: 500, pipelineDlqTallyMax: 0 });
    expect(() => loadGatewayConfig({ PIPELINE_SAMPLE_INTERVAL_MS: "0", PIPELINE_REPORT_INTERVAL_MS: "x" })).toThrow(
      "invalid configuration: PIPELINE_SAMPLE_INTERVAL_MS: must be a whole number from 100 to 60000; " +
        "PIPELINE_REPORT_INTERVAL_MS: must be a whole number from 100 to 60000",
    );
  });

  it("names every bad variable, shared and the gateway's own, without echoing a value", () => {
    const load = () => loadGatewayConfig({ PORT: "eighty", DATABASE_URL: "mysql://root:hunter2@db/x" });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      "invalid configuration: DATABASE_URL: must be a URL with scheme postgres: or postgresql:; " +
        "PORT: must be a whole number from 0 to 65535",
    );
    expect(load).not.toThrow(/hunter2/);
  });
});
