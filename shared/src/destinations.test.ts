import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { destinationName, destinationNames, destinationRecord, destinationUrl } from "./destinations.ts";

describe("destinations", () => {
  it.each(["posthog", "eu-hook-2", "a", "x".repeat(40)])("take %s as a name", (name) => {
    expect(v.is(destinationName, name)).toBe(true);
  });

  it.each(["", "Hook", "a.b", "a*", "a b", "-a", "a-", "x".repeat(41), "events>"])("refuse %j as a name", (name) => {
    expect(v.is(destinationName, name)).toBe(false);
  });

  it.each([
    ["http://127.0.0.1:9000/hook", true],
    ["https://us.i.posthog.com", true],
    ["ftp://example.com", false],
    ["javascript:alert(1)", false],
    ["example.com", false],
    ["http://", false],
    ["https://user:pass@hooks.example.com/in", false],
    ["https://token@hooks.example.com/in", false],
  ])("%s is a URL to deliver to: %s", (url, ok) => {
    expect(v.is(destinationUrl, url)).toBe(ok);
  });

  it("keep a record with its sealed secret, paused state and optional filters", () => {
    const record = {
      name: "hook",
      type: "webhook",
      url: "https://hooks.example.com/in",
      secret: "v1.a.b.c",
      events: ["signup"],
      paused: false,
      created_at: "2026-11-30T12:00:00.000Z",
    };
    expect(v.parse(destinationRecord, record)).toEqual(record);
    expect(v.is(destinationRecord, { ...record, type: "kafka" })).toBe(false);
  });

  it("name their consumer, dead-letter subject and stream under the namespace", () => {
    const names = destinationNames("t1");
    expect(names.consumer("hook")).toBe("t1_destination-hook");
    expect(names.dlqSubject("hook")).toBe("t1.events.dlq.destination.hook");
    expect(names.replaySubject("hook")).toBe("t1.events.replay.destination.hook");
    expect(names).toMatchObject({
      bucket: "t1_destinations",
      statusBucket: "t1_destinations-status",
      dlqStream: "t1_DESTINATIONS_DLQ",
      replayStream: "t1_DESTINATIONS_REPLAY",
    });
    expect(destinationNames().dlqSubjects).toBe("events.dlq.destination.>");
    // The writer's DLQ captures exactly `events.dlq`: no overlap with the destinations' `events.dlq.destination.>`.
    expect(destinationNames().replaySubjects).toBe("events.replay.destination.>");
  });
});
