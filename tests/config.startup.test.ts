import { describe, expect, it } from "vitest";
import { runService } from "./support/processes.ts";

describe("configuration at start", () => {
  it.each<["gateway" | "consumer", Record<string, string>, string]>([
    ["gateway", { PORT: "eighty" }, "gateway: invalid configuration: PORT: must be a whole number from 0 to 65535"],
    ["gateway", { NATS_URL: "http://127.0.0.1:4222" }, "NATS_URL: must be a URL with scheme nats:"],
    [
      "consumer",
      { RETRY_DELAY_UNIT_MS: "-5" },
      "consumer: invalid configuration: RETRY_DELAY_UNIT_MS: must be a whole number",
    ],
    [
      "consumer",
      { ROLLUP_COMPACT_INTERVAL_MS: "10" },
      "ROLLUP_COMPACT_INTERVAL_MS: must be a whole number from 1000 to 86400000",
    ],
    ["consumer", { DB_QUERY_TIMEOUT_MS: "50" }, "DB_QUERY_TIMEOUT_MS: must be a whole number from 100 to 600000"],
    ["gateway", { NATS_REPLICAS: "7" }, "NATS_REPLICAS: must be a whole number from 1 to 5"],
    [
      "consumer",
      { DATABASE_URL: "mysql://root:hunter2@db/x" },
      "DATABASE_URL: must be a URL with scheme postgres: or postgresql:",
    ],
  ])("stops %s with exit 1 and a message naming the bad variable (%j)", async (service, env, message) => {
    const { code, stderr } = await runService(service, env);
    expect(code).toBe(1);
    expect(stderr).toContain(message);
    expect(stderr).not.toContain("hunter2");
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
