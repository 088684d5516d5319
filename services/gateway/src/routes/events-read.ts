import { type StoredEventResponse, storedEventResponse, userEventsResponse } from "@evpipe/shared/api-responses";
import { Hono } from "hono";
import * as v from "valibot";
import type { GatewayEnv } from "../context.ts";
import { ApiError } from "../errors.ts";
import { type AuthDeps, requireScope } from "../middleware/auth.ts";
import { describeOperation, queryParameters, success } from "../openapi/describe.ts";
import type { EventPosition, EventReads, StoredEvent } from "../reads.ts";
import { integerParam, parseQuery, queryObject } from "./read-params.ts";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The cursor is the (occurred_at, id) of the last event returned, opaque to clients.
const cursorParam = v.pipe(
  v.string(),
  v.description("The next_cursor of the previous page."),
  v.transform((value) => {
    try {
      const [occurredAt, id] = JSON.parse(Buffer.from(value, "base64url").toString()) as unknown[];
      if (
        typeof occurredAt === "string" &&
        !Number.isNaN(Date.parse(occurredAt)) &&
        typeof id === "string" &&
        uuid.test(id)
      ) {
        return { occurredAt, id };
      }
    } catch {
      // falls through to the rule below
    }
    return undefined;
  }),
  v.check((cursor) => cursor !== undefined, "is not a cursor this API returned"),
);

const userEventsQuery = queryObject({
  user_id: v.pipe(
    v.string("is required"),
    v.minLength(1, "must be 1 to 128 characters"),
    v.maxLength(128, "must be 1 to 128 characters"),
  ),
  limit: integerParam(20, 1, 100),
  cursor: v.optional(cursorParam),
});

export interface EventsReadDeps extends AuthDeps {
  eventReads: EventReads;
}

function toResponse(event: StoredEvent): StoredEventResponse {
  return {
    ...event,
    occurred_at: event.occurred_at.toISOString(),
    received_at: event.received_at.toISOString(),
    stored_at: event.stored_at.toISOString(),
  };
}

const encodeCursor = (position: EventPosition) =>
  Buffer.from(JSON.stringify([position.occurredAt, position.id])).toString("base64url");

const describeById = describeOperation({
  tags: ["Events"],
  summary: "One stored event",
  description: "404 while the event is not stored yet: accepted events are stored within seconds.",
  scope: "read",
  parameters: [
    {
      in: "path",
      name: "id",
      required: true,
      description: "The event id (any case).",
      schema: { type: "string", format: "uuid" },
    },
  ],
  responses: { 200: success("The stored event.", storedEventResponse) },
  errors: ["VALIDATION_ERROR", "NOT_FOUND", "UNAVAILABLE"],
});

const describeByUser = describeOperation({
  tags: ["Events"],
  summary: "A user's events, newest first",
  description: "Pass `next_cursor` back as `cursor` for the next page; it is null on the last one.",
  scope: "read",
  parameters: queryParameters(userEventsQuery),
  responses: { 200: success("A page of the user's events.", userEventsResponse) },
  errors: ["VALIDATION_ERROR", "UNAVAILABLE"],
});

export function eventsReadRoutes(deps: EventsReadDeps) {
  const guard = requireScope(deps, "read");
  return new Hono<GatewayEnv>()
    .get("/events/:id", describeById, guard, async (c) => {
      const id = c.req.param("id");
      if (!uuid.test(id)) {
        throw new ApiError("VALIDATION_ERROR", "1 path parameter(s) are invalid.", {
          details: { id: ["must be a UUID"] },
        });
      }
      const event = await deps.eventReads.byId(id.toLowerCase());
      if (!event)
        throw new ApiError(
          "NOT_FOUND",
          `No stored event with id ${id} (yet: accepted events are stored within seconds).`,
        );
      return c.json(toResponse(event));
    })
    .get("/events", describeByUser, guard, async (c) => {
      const { user_id, limit, cursor } = parseQuery(userEventsQuery, c.req.query());
      // One more than asked for says whether there is a next page.
      const found = await deps.eventReads.byUser(user_id, limit + 1, cursor);
      const page = found.slice(0, limit);
      const last = page[page.length - 1];
      const body: v.InferOutput<typeof userEventsResponse> = {
        events: page.map(({ event }) => toResponse(event)),
        next_cursor: found.length > limit && last ? encodeCursor(last.position) : null,
      };
      return c.json(body);
    });
}
