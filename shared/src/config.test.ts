import { describe, expect, it } from "vitest";
import { ConfigError, databaseUrlVar, integerVar, natsServers, natsUrlVar, parseEnv } from "./config.ts";

const entries = { PORT: integerVar(8080, 0, 65535), NATS_URL: natsUrlVar, DATABASE_URL: databaseUrlVar };

describe("parseEnv", () => {
  it("applies the defaults of PRODUCT.md §2 when variables are unset or empty", () => {
    expect(parseEnv(entries, { PORT: "" })).toEqual({
      PORT: 8080,
      NATS_URL: "nats://127.0.0.1:4222",
      DATABASE_URL: "postgres://postgres@127.0.0.1:5432/events",
    });
  });

  it("names every bad variable and never echoes a value", () => {
    const secret = "postgres://admin:s3cret@db:5432/x";
    let error: unknown;
    try {
      parseEnv(entries, { PORT: "80a", NATS_URL: "http://x", DATABASE_URL: secret.replace("postgres", "mysql") });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain("PORT: must be a whole number from 0 to 65535");
    expect(message).toContain("NATS_URL: must be a URL with scheme nats: or tls: or ws: or wss:");
    expect(message).toContain("DATABASE_URL: must be a URL with scheme postgres: or postgresql:");
    expect(message).not.toContain("s3cret");
  });

  it("takes a comma-separated list of NATS seed servers, and names a bad one", () => {
    const seeds = "nats://a:4222, nats://b:4222,tls://c:4222";
    expect(parseEnv(entries, { NATS_URL: seeds }).NATS_URL).toBe(seeds);
    expect(natsServers(seeds)).toEqual(["nats://a:4222", "nats://b:4222", "tls://c:4222"]);
    expect(() => parseEnv(entries, { NATS_URL: "nats://a:4222,http://b:4222" })).toThrow(
      "NATS_URL: must be a URL with scheme nats: or tls: or ws: or wss:, or a comma-separated list of them",
    );
  });

  it("rejects numbers out of range", () => {
    expect(() => parseEnv(entries, { PORT: "70000" })).toThrow("PORT: must be a whole number from 0 to 65535");
  });
});
