import { headers as natsHeaders } from "nats";
import { describe, expect, it } from "vitest";
import { decodeDeadLetter, encodeDeadLetter, encodeReplay } from "./dead-letter.ts";
import {
  createEnvelopeSchema,
  decodeEnvelope,
  encodeEnvelope,
  envelopeEventCount,
  envelopeMessageId,
} from "./envelope.ts";
import { defaultEventLimits } from "./limits.ts";
import { messageHeaders } from "./names.ts";

const schema = createEnvelopeSchema(defaultEventLimits);
const event = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  event: "signup",
  user_id: "u1",
  received_at: "2026-11-30T01:02:03.456Z",
  request_id: "req-1",
  key_id: "key-1",
  ...extra,
});
const id1 = "0190f0b4-6f3a-7c2e-9a1b-2c3d4e5f6a7b";
const id2 = "0190f0b4-6f3a-7c2e-9a1b-2c3d4e5f6a7c";

describe("the envelope", () => {
  it("decodes what it encodes", () => {
    const events = [
      event(id1, { client_ts: "2026-11-29T10:00:00+01:00", metadata: { plan: "pro", n: [1, 2] } }),
      event(id2),
    ];
    expect(decodeEnvelope(schema, encodeEnvelope(events))).toEqual(events);
  });

  it("refuses what is not a version 1 envelope of valid events", () => {
    const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));
    expect(() => decodeEnvelope(schema, bytes({ v: 2, events: [event(id1)] }))).toThrow();
    expect(() => decodeEnvelope(schema, bytes({ v: 1, events: [] }))).toThrow();
    expect(() => decodeEnvelope(schema, bytes({ v: 1, events: [event("not-a-uuid")] }))).toThrow();
    expect(() => decodeEnvelope(schema, Buffer.from("{not json"))).toThrow(SyntaxError);
    expect(() => decodeEnvelope(schema, Uint8Array.of(0xff, 0xfe))).toThrow();
  });

  it("is identified by the event id for one event and by a hash of the ids, in order, for a batch", () => {
    expect(envelopeMessageId([event("a")])).toBe("a");
    expect(envelopeMessageId([event("a"), event("b")])).toBe(envelopeMessageId([event("a"), event("b")]));
    expect(envelopeMessageId([event("a"), event("b")])).not.toBe(envelopeMessageId([event("b"), event("a")]));
    expect(envelopeMessageId([event("a"), event("b")])).toMatch(/^batch-[A-Za-z0-9_-]{43}$/);
  });
});

describe("a dead letter", () => {
  const origin = { stream: "EVENTS", seq: 42, requestId: "req-1", data: Buffer.from("original bytes") };
  const letter = {
    reason: "permanent_error" as const,
    errorCode: "22023",
    errorMessage: "refused\nby a trigger",
    events: [event(id1, { metadata: { a: 1 } })],
    attempts: 1,
    firstFailureAt: new Date("2026-11-30T01:00:00.000Z"),
    lastFailureAt: new Date("2026-11-30T01:00:03.000Z"),
  };

  it("decodes what it encodes, the error message on one line", () => {
    const parts = encodeDeadLetter(letter, origin);
    const record = decodeDeadLetter(7, new Date(0), parts.headers, parts.data);
    expect(record).toMatchObject({
      seq: 7,
      reason: "permanent_error",
      errorCode: "22023",
      errorMessage: "refused by a trigger",
      attempts: 1,
      firstFailureAt: "2026-11-30T01:00:00.000Z",
      lastFailureAt: "2026-11-30T01:00:03.000Z",
      originalStream: "EVENTS",
      originalSeq: 42,
      requestId: "req-1",
      events: letter.events,
    });
  });

  it("keeps the original bytes when the message could not be read", () => {
    const parts = encodeDeadLetter({ ...letter, events: undefined, errorCode: "ENVELOPE_INVALID" }, origin);
    const record = decodeDeadLetter(8, new Date(0), parts.headers, parts.data);
    expect(Buffer.from(record.data).toString()).toBe("original bytes");
    expect(record.events).toBeUndefined();
  });

  it("has one message id per original message, reason and events, so a republish is deduplicated", () => {
    const a = encodeDeadLetter(letter, origin).msgID;
    expect(encodeDeadLetter({ ...letter, attempts: 2, lastFailureAt: new Date() }, origin).msgID).toBe(a);
    expect(encodeDeadLetter({ ...letter, reason: "retries_exhausted" }, origin).msgID).not.toBe(a);
    expect(encodeDeadLetter(letter, { ...origin, seq: 43 }).msgID).not.toBe(a);
    expect(encodeDeadLetter({ ...letter, events: [event(id2)] }, origin).msgID).not.toBe(a);
  });

  it("replays as an envelope the consumer accepts, with its request id and where it came from", () => {
    const parts = encodeDeadLetter(letter, origin);
    const record = decodeDeadLetter(9, new Date(0), parts.headers, parts.data);
    if (!record.events) throw new Error("expected readable events");
    const replay = encodeReplay({ ...record, events: record.events }, "EVENTS_DLQ");
    expect(decodeEnvelope(schema, replay.data)).toEqual(letter.events);
    expect(replay.headers.get(messageHeaders.requestId)).toBe("req-1");
    expect(replay.headers.get("Evp-Replayed-From")).toBe("9");
    expect(replay.msgID).toBe("dlq-replay-EVENTS_DLQ-9");
    expect(envelopeEventCount(replay.headers, replay.data.length)).toBe(letter.events?.length);
  });

  it("counts an envelope's events by its header, and estimates from its size without a usable one", () => {
    const counted = (value: string) => {
      const h = natsHeaders();
      h.set(messageHeaders.eventCount, value);
      return h;
    };
    expect(envelopeEventCount(counted("250"), 100)).toBe(250);
    // About 500 bytes an event, at least one.
    expect(envelopeEventCount(undefined, 50_000)).toBe(100);
    expect(envelopeEventCount(natsHeaders(), 10)).toBe(1);
    for (const bad of ["0", "-3", "1.5", "x", "", "1e400"]) expect(envelopeEventCount(counted(bad), 5000)).toBe(10);
  });
});
