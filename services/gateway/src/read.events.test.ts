import { describe, expect, it } from "vitest";
import type { EventReads } from "./reads.ts";
import { errorEnvelope } from "./testing/error-envelope.ts";
import { eventReadsOf, storedEvent } from "./testing/read-doubles.ts";
import { invalidEventQueries } from "./testing/read-parameter-cases.ts";
import { createReadTestGateway, itRefusesInvalidQueries, itReportsStoreFailures } from "./testing/read-suite.ts";
import { describeSecurity } from "./testing/security-suite.ts";
import { createTestGateway } from "./testing/test-deps.ts";

const id = (n: number) => `0192e4c2-0000-7000-8000-${String(n).padStart(12, "0")}`;
const at = (iso: string) => new Date(iso);

const stored = [
  storedEvent({ id: id(1), user_id: "u1", occurred_at: at("2026-11-01T10:00:00Z"), metadata: { plan: "pro" } }),
  storedEvent({ id: id(2), user_id: "u1", occurred_at: at("2026-11-02T10:00:00Z") }),
  // Same instant as id(2): the id breaks the tie, so paging neither skips nor repeats one of them.
  storedEvent({ id: id(3), user_id: "u1", occurred_at: at("2026-11-02T10:00:00Z") }),
  storedEvent({ id: id(4), user_id: "u2", occurred_at: at("2026-11-03T10:00:00Z") }),
];

const setup = (eventReads: EventReads = eventReadsOf(stored)) => createReadTestGateway({ eventReads });

const failingWith = (err: Error): EventReads => ({
  byId: async () => Promise.reject(err),
  byUser: async () => Promise.reject(err),
});

describe("GET /v1/events/{id}", () => {
  it("answers the stored event, times as RFC 3339 UTC", async () => {
    const { gateway, get } = setup();
    const { res, body } = await get(`/v1/events/${id(1)}`);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toEqual({
      id: id(1),
      event: "signup",
      user_id: "u1",
      occurred_at: "2026-11-01T10:00:00.000Z",
      received_at: "2026-11-02T10:00:00.000Z",
      stored_at: "2026-11-02T10:00:00.000Z",
      metadata: { plan: "pro" },
      request_id: "req-1",
      key_id: "key-1",
      type: "track",
      anonymous_id: null,
    });
    expect(gateway.reads).toEqual([{ method: "byId", args: [id(1)] }]);
  });

  it("looks an upper-case id up in lower case", async () => {
    const { gateway, get } = setup();
    const { res } = await get(`/v1/events/${id(2).toUpperCase()}`);
    expect(res.status).toBe(200);
    expect(gateway.reads).toEqual([{ method: "byId", args: [id(2)] }]);
  });

  it("answers 404 NOT_FOUND while the event is not stored", async () => {
    const { get } = setup();
    const { res, body } = await get(`/v1/events/${id(99)}`);
    expect(res.status, JSON.stringify(body)).toBe(404);
    expect(body).toEqual(
      errorEnvelope(
        res.headers,
        "NOT_FOUND",
        `No stored event with id ${id(99)} (yet: accepted events are stored within seconds).`,
      ),
    );
  });

  it("answers 400 naming the id when it is not a UUID, without reading", async () => {
    const { gateway, get } = setup();
    const { res, body } = await get("/v1/events/not-a-uuid");
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(body).toEqual(
      errorEnvelope(res.headers, "VALIDATION_ERROR", "1 path parameter(s) are invalid.", { id: ["must be a UUID"] }),
    );
    expect(gateway.reads).toEqual([]);
  });
});

describe("GET /v1/events?user_id=", () => {
  it("pages through a user's events newest first, each exactly once, with an opaque cursor", async () => {
    const { gateway, get } = setup();
    const first = await get("/v1/events?user_id=u1&limit=2");
    expect(first.res.status, JSON.stringify(first.body)).toBe(200);
    expect((first.body.events as Array<{ id: string }>).map((event) => event.id)).toEqual([id(3), id(2)]);
    expect(first.body.next_cursor).toEqual(expect.stringMatching(/^[A-Za-z0-9_-]+$/));

    const second = await get(`/v1/events?user_id=u1&limit=2&cursor=${first.body.next_cursor}`);
    expect(second.res.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body).toEqual({
      events: [expect.objectContaining({ id: id(1), occurred_at: "2026-11-01T10:00:00.000Z" })],
      next_cursor: null,
    });
    // One more than the page, to know whether another page follows.
    expect(gateway.reads).toEqual([
      { method: "byUser", args: ["u1", 3, undefined] },
      { method: "byUser", args: ["u1", 3, { occurredAt: "2026-11-02T10:00:00.000Z", id: id(2) }] },
    ]);
  });

  it("answers an empty page for a user without events, and reads 20 by default", async () => {
    const { gateway, get } = setup();
    const { res, body } = await get("/v1/events?user_id=nobody");
    expect(res.status).toBe(200);
    expect(body).toEqual({ events: [], next_cursor: null });
    expect(gateway.reads).toEqual([{ method: "byUser", args: ["nobody", 21, undefined] }]);
  });

  itRefusesInvalidQueries(invalidEventQueries, setup);
});

describe("event reads when the store fails", () => {
  itReportsStoreFailures([`/v1/events/${id(1)}`, "/v1/events?user_id=u1"], (err) => setup(failingWith(err)), {
    error: new Error('relation "events" does not exist; password=hunter2'),
    leaks: /hunter2|relation/,
  });
});

const withEvents = () => createTestGateway({ eventReads: eventReadsOf(stored) });
describeSecurity({ method: "GET", path: `/v1/events/${id(1)}`, scope: "read" }, withEvents);
describeSecurity({ method: "GET", path: "/v1/events?user_id=u1", scope: "read" }, withEvents);
