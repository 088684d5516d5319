import { createIngestSchemas, type EnvelopeEvent, type EventLimits, type IngestEvent } from "@evpipe/shared";
import { type Context, Hono } from "hono";
import * as v from "valibot";
import { provenance, publishAccepted } from "../accept.ts";
import type { GatewayEnv } from "../context.ts";
import { parseOrReject } from "../errors.ts";
import { uuidv7 } from "../ids.ts";
import { type AuthDeps, requireScope } from "../middleware/auth.ts";
import { readJson, requireJson, requireKnownEncoding } from "../middleware/json-body.ts";
import { describeOperation, json, success } from "../openapi/describe.ts";
import type { EventPublisher } from "../publisher.ts";

export interface IngestDeps extends AuthDeps {
  publisher: EventPublisher;
  limits: EventLimits;
}

const eventId = v.pipe(v.string(), v.uuid());
const receivedAt = v.pipe(v.string(), v.isoTimestamp());
export const acceptedEventResponse = v.object({ id: eventId, status: v.literal("accepted"), received_at: receivedAt });
export const acceptedBatchResponse = v.object({ accepted: v.number(), ids: v.array(eventId), received_at: receivedAt });

const bodyErrors = [
  "INVALID_JSON",
  "VALIDATION_ERROR",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "UNAVAILABLE",
] as const;
const accepted = "Accepted: JetStream has the events durably; each will be stored exactly once by id or dead-lettered.";

const validate = <TSchema extends v.GenericSchema>(schema: TSchema, input: unknown) =>
  parseOrReject(schema, input, "field(s) break the event rules");

export function ingestRoutes(deps: IngestDeps) {
  const schemas = createIngestSchemas(deps.limits, deps.now);

  async function accept(c: Context<GatewayEnv>, input: readonly IngestEvent[]) {
    const receivedAt = new Date(deps.now()).toISOString();
    const stamp = provenance(c, receivedAt);
    const events: EnvelopeEvent[] = input.map((event) => ({ ...event, id: event.id ?? uuidv7(), ...stamp }));
    await publishAccepted(c, deps.publisher, events);
    return { ids: events.map((event) => event.id), receivedAt };
  }

  // Guards per route, not with use(): sibling routers share the /v1 mount.
  const guards = [requireScope(deps, "ingest"), requireJson, requireKnownEncoding] as const;
  const describeEvent = describeOperation({
    tags: ["Ingest"],
    summary: "Send one event",
    description: "Unknown fields are refused. Retry with the same `id` after a 503 or a lost answer.",
    scope: "ingest",
    requestBody: { required: true, content: json(schemas.event) },
    responses: { 202: success(accepted, acceptedEventResponse) },
    errors: bodyErrors,
  });
  const describeBatch = describeOperation({
    tags: ["Ingest"],
    summary: "Send a batch of events",
    description: `1 to ${deps.limits.maxBatchEvents} events, all or nothing: one bad event refuses the batch, naming each bad field by path (\`events.3.user_id\`).`,
    scope: "ingest",
    requestBody: { required: true, content: json(schemas.batch) },
    responses: { 202: success(accepted, acceptedBatchResponse) },
    errors: bodyErrors,
  });
  return new Hono<GatewayEnv>()
    .post("/events", describeEvent, ...guards, async (c) => {
      const event = validate(schemas.event, await readJson(c, deps.limits.maxBodyBytes));
      const { ids, receivedAt } = await accept(c, [event]);
      const body: v.InferOutput<typeof acceptedEventResponse> = {
        // One event in, one id out.
        id: ids[0] as string,
        status: "accepted",
        received_at: receivedAt,
      };
      return c.json(body, 202);
    })
    .post("/events/batch", describeBatch, ...guards, async (c) => {
      const { events } = validate(schemas.batch, await readJson(c, deps.limits.maxBodyBytes));
      const { ids, receivedAt } = await accept(c, events);
      const body: v.InferOutput<typeof acceptedBatchResponse> = { accepted: ids.length, ids, received_at: receivedAt };
      return c.json(body, 202);
    });
}
