import { encodeEnvelope } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { decodeForwarded } from "./forwarded-envelope.ts";

const event = {
  id: "0193a6f0-7d2c-7cc4-9f7e-1a2b3c4d5e6f",
  event: "purchase",
  user_id: "u-1",
  received_at: "2026-12-06T00:00:00.000Z",
  request_id: "r-1",
  key_id: "k-1",
  metadata: { amount: 12.5 },
};

describe("decodeForwarded", () => {
  it("reads back what the gateway encoded, numbers as written", () => {
    const big = { ...event, metadata: { order: JSON.parse("1") } };
    expect(decodeForwarded(encodeEnvelope([event, big]))).toEqual([event, big]);
    const text =
      '{"v":1,"events":[{"id":"a","event":"e","user_id":"u","received_at":"t","metadata":{"n":12345678901234567890}}]}';
    expect(JSON.stringify(decodeForwarded(Buffer.from(text))[0]?.metadata)).toBe('{"n":12345678901234567890}');
  });

  it.each([
    ["not JSON", "{"],
    ["another version", JSON.stringify({ v: 2, events: [event] })],
    ["no events", JSON.stringify({ v: 1, events: [] })],
    ["an event without an id", JSON.stringify({ v: 1, events: [{ ...event, id: undefined }] })],
    ["metadata that is not an object", JSON.stringify({ v: 1, events: [{ ...event, metadata: [1] }] })],
  ])("refuses %s", (_, text) => {
    expect(() => decodeForwarded(Buffer.from(text))).toThrow();
  });
});
