import { createIngestSchemas, type EnvelopeEvent, type EventLimits, type IngestEvent } from "@evpipe/shared";
import { type Context, Hono } from "hono";
import type * as v from "valibot";
import type { GatewayEnv } from "../context.ts";
import { ApiError, parseOrReject } from "../errors.ts";
import { uuidv7 } from "../ids.ts";
import { type AuthDeps, requireScope } from "../middleware/auth.ts";
import { readJson, requireJson } from "../middleware/json-body.ts";
import type { EventPublisher } from "../publisher.ts";

export interface IngestDeps extends AuthDeps {
  publisher: EventPublisher;
  limits: EventLimits;
}

const validate = <TSchema extends v.GenericSchema>(schema: TSchema, input: unknown) =>
  parseOrReject(schema, input, "field(s) break the event rules");

export function ingestRoutes(deps: IngestDeps) {
  const schemas = createIngestSchemas(deps.limits, deps.now);

  /** Publishes one message for the request and returns only after JetStream's acknowledgement. */
  async function accept(c: Context<GatewayEnv>, input: readonly IngestEvent[]) {
    const receivedAt = new Date(deps.now()).toISOString();
    const requestId = c.get("requestId");
    const keyId = c.get("apiKey").id;
    const events: EnvelopeEvent[] = input.map((event) => ({
      ...event,
      id: event.id ?? uuidv7(),
      received_at: receivedAt,
      request_id: requestId,
      key_id: keyId,
    }));
    try {
      await deps.publisher.publish(events, requestId);
    } catch (err) {
      c.get("log").warn({ err, eventCount: events.length }, "publish not acknowledged");
      throw new ApiError("UNAVAILABLE", "The event bus did not acknowledge in time; retry with the same ids.", {
        headers: { "Retry-After": "1" },
        cause: err,
      });
    }
    return { ids: events.map((event) => event.id), receivedAt };
  }

  // Guards per route, not with use(): sibling routers share the /v1 mount.
  const guards = [requireScope(deps, "ingest"), requireJson] as const;
  return new Hono<GatewayEnv>()
    .post("/events", ...guards, async (c) => {
      const event = validate(schemas.event, await readJson(c, deps.limits.maxBodyBytes));
      const { ids, receivedAt } = await accept(c, [event]);
      return c.json({ id: ids[0], status: "accepted", received_at: receivedAt }, 202);
    })
    .post("/events/batch", ...guards, async (c) => {
      const { events } = validate(schemas.batch, await readJson(c, deps.limits.maxBodyBytes));
      const { ids, receivedAt } = await accept(c, events);
      return c.json({ accepted: ids.length, ids, received_at: receivedAt }, 202);
    });
}
