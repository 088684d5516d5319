import { randomBytes } from "node:crypto";
import { ConfigError } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { loadForwarderConfig } from "./config.ts";

const key = randomBytes(32).toString("base64");

describe("loadForwarderConfig", () => {
  it("needs DESTINATION_SECRETS_KEY and says how to make one", () => {
    expect(() => loadForwarderConfig({})).toThrow(ConfigError);
    expect(() => loadForwarderConfig({})).toThrow(
      "invalid configuration: DESTINATION_SECRETS_KEY: is required: 32 random bytes in base64 (openssl rand -base64 32)",
    );
    expect(() => loadForwarderConfig({ DESTINATION_SECRETS_KEY: "c2hvcnQ=" })).toThrow(
      "DESTINATION_SECRETS_KEY: must be 32 bytes in base64 (openssl rand -base64 32)",
    );
  });

  it("has working defaults beside the key", () => {
    const config = loadForwarderConfig({ DESTINATION_SECRETS_KEY: key });
    expect(config).toMatchObject({
      healthPort: 8082,
      retryDelayUnitMs: 1000,
      forwarderConcurrency: 4,
      forwarderPullBatch: 64,
      forwarderMaxInFlight: 256,
      deliveryTimeoutMs: 10_000,
      ackWaitMs: 30_000,
      metricsEnabled: true,
    });
    expect(Buffer.from(config.secretsKey).toString("base64")).toBe(key);
  });

  it("refuses a delivery timeout that would outlast the ack wait", () => {
    expect(() =>
      loadForwarderConfig({ DESTINATION_SECRETS_KEY: key, DELIVERY_TIMEOUT_MS: "30000", ACK_WAIT_MS: "30000" }),
    ).toThrow("DELIVERY_TIMEOUT_MS: must be below ACK_WAIT_MS");
  });
});
