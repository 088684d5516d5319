import { describe, expect, it } from "vitest";
import { servicesToStart } from "./services.ts";

const names = (env: NodeJS.ProcessEnv) => servicesToStart(env).services.map((service) => service.name);
const forwarderPort = (env: NodeJS.ProcessEnv) =>
  servicesToStart(env).services.find((service) => service.name === "forwarder")?.env?.HEALTH_PORT;

describe("servicesToStart", () => {
  it("runs no forwarder without DESTINATION_SECRETS_KEY, and says so", () => {
    expect(servicesToStart({})).toMatchObject({
      notice: "no DESTINATION_SECRETS_KEY, so no forwarder: destinations are not forwarded",
    });
    expect(names({})).toEqual(["gateway", "consumer"]);
    expect(names({ DESTINATION_SECRETS_KEY: "" })).toEqual(["gateway", "consumer"]);
  });

  it("runs the forwarder with the key, on a health port of its own beside the consumer's", () => {
    const key = { DESTINATION_SECRETS_KEY: "k" };
    expect(names(key)).toEqual(["gateway", "consumer", "forwarder"]);
    expect(servicesToStart(key).notice).toBeUndefined();
    expect(forwarderPort(key)).toBe("8082");
    expect(forwarderPort({ ...key, HEALTH_PORT: "9000" })).toBe("8082");
    expect(forwarderPort({ ...key, HEALTH_PORT: "0" })).toBe("0");
    expect(forwarderPort({ ...key, FORWARDER_HEALTH_PORT: "7000" })).toBe("7000");
  });
});
