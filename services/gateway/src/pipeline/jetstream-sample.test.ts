import { describe, expect, it } from "vitest";
import { destinationSummary } from "./jetstream-sample.ts";

const record = {
  name: "hook",
  type: "webhook" as const,
  url: "https://hooks.example.com/t/sekret-token",
  secret: "sealed:abc",
  events: ["signup"],
  paused: true,
  created_at: "2026-11-02T10:00:00.000Z",
};

describe("destinationSummary", () => {
  it("shows counts, lag and state, never the URL, the secret or a URL quoted in the last error", () => {
    const status = {
      delivered: 5,
      failed: 2,
      retried: 1,
      last_error: { at: "2026-11-02T10:01:00.000Z", message: "ECONNREFUSED https://hooks.example.com/t/sekret-token" },
      updated_at: "2026-11-02T10:01:01.000Z",
    };
    const shown = destinationSummary({ record, lag: 4, status, deadLetters: 2 });
    expect(shown).toEqual({
      name: "hook",
      type: "webhook",
      state: "paused",
      lag: 4,
      delivered: 5,
      failed: 2,
      retried: 1,
      dead_letters: 2,
      last_success_at: null,
      last_error: { at: "2026-11-02T10:01:00.000Z", message: "ECONNREFUSED <url>" },
    });
    expect(JSON.stringify(shown)).not.toMatch(/sekret|sealed|example\.com/);
  });

  it("shows zeros and no lag before the forwarder has reported or made its consumer", () => {
    expect(
      destinationSummary({ record: { ...record, paused: false }, lag: null, status: undefined, deadLetters: 0 }),
    ).toEqual({
      name: "hook",
      type: "webhook",
      state: "active",
      lag: null,
      delivered: 0,
      failed: 0,
      retried: 0,
      dead_letters: 0,
      last_success_at: null,
      last_error: null,
    });
  });
});
