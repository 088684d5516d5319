import { describe, expect, it } from "vitest";
import { eventTime, eventTimeText, maxClientDelayMs } from "./event-time.ts";

const received = Date.parse("2026-11-30T12:00:00.000Z");
const at = (offsetMs: number) => new Date(received + offsetMs).toISOString();
const hour = 3600_000;

describe("the time of a Segment message", () => {
  it.each([
    ["a past timestamp, as stated (a backfill)", { timestamp: "2024-01-02T03:04:05.678Z" }, "2024-01-02T03:04:05.678Z"],
    ["a timestamp with an offset", { timestamp: "2026-11-30T13:00:00+02:00" }, "2026-11-30T11:00:00.000Z"],
    [
      "a future timestamp, moved back by how far the client's sentAt is ahead",
      { timestamp: at(hour + 200), sentAt: at(hour + 250) },
      at(-50),
    ],
    ["a future timestamp without sentAt: received_at", { timestamp: at(hour) }, at(0)],
    ["a future timestamp with a sentAt not ahead: received_at", { timestamp: at(hour), sentAt: at(-10) }, at(0)],
    [
      "no timestamp: received_at less the client's delay between call and send",
      { originalTimestamp: at(hour - 5000), sentAt: at(hour) },
      at(-5000),
    ],
    [
      "a client clock an hour behind, corrected the same way",
      { originalTimestamp: at(-hour - 300), sentAt: at(-hour) },
      at(-300),
    ],
    [
      "originalTimestamp after sentAt (the clock went back): received_at",
      { originalTimestamp: at(10_000), sentAt: at(0) },
      at(0),
    ],
    [
      "a delay beyond the bound: bounded",
      { originalTimestamp: "1970-01-01T00:00:00.000Z", sentAt: at(0) },
      at(-maxClientDelayMs),
    ],
    ["originalTimestamp without sentAt, in the past: as stated", { originalTimestamp: at(-7000) }, at(-7000)],
    ["originalTimestamp without sentAt, in the future: received_at", { originalTimestamp: at(7000) }, at(0)],
    [
      "a future timestamp with an absurd sentAt: at most the bound before received_at",
      { timestamp: at(60_000), sentAt: "9999-12-31T23:59:59Z" },
      at(-maxClientDelayMs),
    ],
    [
      "year 0001 with a positive offset: the earliest storable time, not year 0",
      { timestamp: "0001-01-01T00:00:00+01:00" },
      "0001-01-01T00:00:00.000Z",
    ],
    ["a date alone is midnight UTC", { timestamp: "2020-01-02" }, "2020-01-02T00:00:00.000Z"],
    ["a date-time without an offset is UTC", { timestamp: "2020-01-02T03:04:05.6" }, "2020-01-02T03:04:05.600Z"],
    [
      "an unreadable timestamp falls back to the next rule",
      { timestamp: "yesterday", originalTimestamp: at(-1) },
      at(-1),
    ],
    ["a numeric timestamp is not read", { timestamp: received - 5000 }, at(0)],
    ["nothing: received_at", {}, at(0)],
  ])("%s", (_, times, expected) => {
    expect(new Date(eventTime(times, received)).toISOString()).toBe(expected);
  });
});

describe("the time's text", () => {
  it.each([
    [
      "a canonical past timestamp is kept as written",
      { timestamp: "2024-02-29T12:00:00.000Z" },
      "2024-02-29T12:00:00.000Z",
    ],
    ["any other form is rewritten in UTC", { timestamp: "2024-02-29T13:00:00+01:00" }, "2024-02-29T12:00:00.000Z"],
    ["a canonical future timestamp is corrected", { timestamp: at(hour), sentAt: at(hour) }, at(0)],
    ["a day that does not exist is not a time", { timestamp: "2023-02-29T12:00:00.000Z" }, at(0)],
    ["nor is the 31st of April", { timestamp: "2026-04-31T12:00:00.000Z" }, at(0)],
  ])("%s", (_, times, expected) => {
    expect(eventTimeText(times, received)).toBe(expected);
  });
});
