import { type Database, eventById, eventsOfUser } from "@evpipe/db";
import { Hono } from "hono";
import type { Kysely } from "kysely";
import * as v from "valibot";
import type { GatewayEnv } from "../context.ts";
import { ApiError } from "../errors.ts";
import { type AuthDeps, requireScope } from "../middleware/auth.ts";
import { integerParam, parseQuery } from "./read-params.ts";

export const storedEventResponse = v.object({
  id: v.string(),
  event: v.string(),
  user_id: v.string(),
  occurred_at: v.string(),
  received_at: v.string(),
  stored_at: v.string(),
  metadata: v.unknown(),
  request_id: v.string(),
  key_id: v.string(),
});
export const userEventsResponse = v.object({
  events: v.array(storedEventResponse),
  next_cursor: v.nullable(v.string()),
});
type StoredEvent = v.InferOutput<typeof storedEventResponse>;

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The cursor is the (occurred_at, id) of the last event returned, opaque to clients.
const cursorParam = v.pipe(
  v.string(),
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

const userEventsQuery = v.strictObject(
  {
    user_id: v.pipe(
      v.string("is required"),
      v.minLength(1, "must be 1 to 128 characters"),
      v.maxLength(128, "must be 1 to 128 characters"),
    ),
    limit: integerParam(20, 1, 100),
    cursor: v.optional(cursorParam),
  },
  (issue) => (issue.expected === "never" ? "is not a known parameter" : "is required"),
);

export interface EventsReadDeps extends AuthDeps {
  db: Kysely<Database>;
}

function toResponse(row: NonNullable<Awaited<ReturnType<typeof eventById>>>): StoredEvent {
  return {
    ...row,
    occurred_at: row.occurred_at.toISOString(),
    received_at: row.received_at.toISOString(),
    stored_at: row.stored_at.toISOString(),
  };
}

export function eventsReadRoutes(deps: EventsReadDeps) {
  const guard = requireScope(deps, "read");
  return new Hono<GatewayEnv>()
    .get("/events/:id", guard, async (c) => {
      const id = c.req.param("id");
      if (!uuid.test(id)) {
        throw new ApiError("VALIDATION_ERROR", "1 path parameter(s) are invalid.", {
          details: { id: ["must be a UUID"] },
        });
      }
      const row = await eventById(deps.db, id.toLowerCase());
      if (!row)
        throw new ApiError(
          "NOT_FOUND",
          `No stored event with id ${id} (yet: accepted events are stored within seconds).`,
        );
      return c.json(toResponse(row));
    })
    .get("/events", guard, async (c) => {
      const { user_id, limit, cursor } = parseQuery(userEventsQuery, c.req.query());
      const rows = await eventsOfUser(deps.db, user_id, limit + 1, cursor);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const body: v.InferOutput<typeof userEventsResponse> = {
        events: page.map(({ occurred_at_exact: _exact, ...row }) => toResponse(row)),
        // The exact timestamp (microseconds), so the next page neither skips nor repeats an event.
        next_cursor:
          rows.length > limit && last
            ? Buffer.from(JSON.stringify([last.occurred_at_exact, last.id])).toString("base64url")
            : null,
      };
      return c.json(body);
    });
}
