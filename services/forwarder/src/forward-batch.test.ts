import type { EnvelopeEvent } from "@evpipe/shared";
import type { JsMsg } from "nats";
import { describe, expect, it } from "vitest";
import type { DeliveryOutcome } from "./delivery-decision.ts";
import { messageOutcome, type Pending, packRequests } from "./forward-batch.ts";

const event = (id: string): EnvelopeEvent => ({
  id,
  event: "signup",
  user_id: "u1",
  received_at: "2026-12-06T00:00:00.000Z",
  request_id: "r1",
  key_id: "k1",
});

// Packing reads only a message's events; the message itself is carried along untouched.
const pending = (seq: number, count: number, eventBytes = 100): Pending => ({
  msg: { seq } as JsMsg,
  events: Array.from({ length: count }, (_, i) => event(`${seq}-${i}`)),
  eventBytes,
});

const limits = (maxBatch: number, maxBatchBytes = 1_000_000) => ({ maxBatch, maxBatchBytes });

const shape = (requests: ReturnType<typeof packRequests>) =>
  requests.map((request) => ({
    events: request.events.length,
    members: request.members.map((member) => member.msg.seq),
  }));

describe("packRequests", () => {
  it("puts several messages' events in one request up to the vendor's batch size", () => {
    expect(shape(packRequests([pending(1, 3), pending(2, 4), pending(3, 2)], limits(10)))).toEqual([
      { events: 9, members: [1, 2, 3] },
    ]);
  });

  it("starts a new request when the next events would not fit, splitting a message across requests", () => {
    expect(shape(packRequests([pending(1, 6), pending(2, 6)], limits(10)))).toEqual([
      { events: 10, members: [1, 2] },
      { events: 2, members: [2] },
    ]);
  });

  it("splits a message larger than a batch over several requests, in order", () => {
    const requests = packRequests([pending(1, 25)], limits(10));
    expect(shape(requests)).toEqual([
      { events: 10, members: [1] },
      { events: 10, members: [1] },
      { events: 5, members: [1] },
    ]);
    expect(requests.flatMap((request) => request.events.map((e) => e.id))).toEqual(
      Array.from({ length: 25 }, (_, i) => `1-${i}`),
    );
  });

  it("cuts requests at the vendor's size in bytes too, a large event alone in its request", () => {
    const requests = packRequests([pending(1, 5, 300), pending(2, 1, 2000), pending(3, 2, 300)], limits(100, 1000));
    expect(shape(requests)).toEqual([
      { events: 3, members: [1] },
      { events: 2, members: [1] },
      { events: 1, members: [2] },
      { events: 2, members: [3] },
    ]);
  });

  it("sends nothing for messages whose events were all filtered out or that could not be read", () => {
    const unreadable: Pending = { msg: { seq: 2 } as JsMsg, unreadable: "not JSON" };
    expect(shape(packRequests([pending(1, 0), unreadable], limits(10)))).toEqual([]);
  });
});

describe("messageOutcome", () => {
  const ok = { kind: "answered", status: 200 } as const;
  const unavailable = { kind: "answered", status: 503 } as const;
  const badRequest = { kind: "answered", status: 400 } as const;
  const refused = (...ids: string[]) => ({ kind: "answered", status: 400, refusedIds: ids }) as const;
  const share = (outcome: DeliveryOutcome, ...ids: string[]) => ({ outcome, ids });

  it("is delivered when every request carrying its events was", () => {
    expect(messageOutcome([share(ok, "a"), share(ok, "b")])).toEqual(ok);
  });

  it("retries the whole message when any part failed in a way that may pass, whatever else happened", () => {
    expect(messageOutcome([share(ok, "a"), share(unavailable, "b")])).toEqual(unavailable);
    expect(messageOutcome([share(refused("a"), "a"), share(unavailable, "b")])).toEqual(unavailable);
    const refusedConnection = { kind: "unreachable", error: "ECONNREFUSED" } as const;
    expect(messageOutcome([share(badRequest, "a"), share(refusedConnection, "b")])).toEqual(refusedConnection);
  });

  it("dead-letters only the events refused for good, not those another request delivered", () => {
    expect(messageOutcome([share(ok, "a", "b"), share(badRequest, "c", "d")])).toEqual(refused("c", "d"));
    expect(messageOutcome([share(refused("a", "x"), "a", "b"), share(refused("d"), "c", "d")])).toEqual(
      refused("a", "d"),
    );
  });

  it("is delivered when a partial refusal named only other messages' events", () => {
    expect(messageOutcome([share(refused("x"), "a", "b")])).toEqual(ok);
  });
});
