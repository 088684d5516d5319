import { type EnvelopeEvent, type EventLimits, type EventType, eventTypes } from "@evpipe/shared";
import { type Context, Hono } from "hono";
import { createMiddleware } from "hono/factory";
import * as v from "valibot";
import { provenance, publishAccepted } from "../accept.ts";
import type { GatewayEnv } from "../context.ts";
import { ApiError, parseOrReject } from "../errors.ts";
import {
  type AuthDeps,
  admitKey,
  basicAuthUser,
  type KeyChallenge,
  presentedKey,
  refuseKeyInUrl,
} from "../middleware/auth.ts";
import { parseJsonBody, readText } from "../middleware/json-body.ts";
import { describeOperation, json, success } from "../openapi/describe.ts";
import type { EventPublisher } from "../publisher.ts";
import {
  createSegmentSchemas,
  type MessageOutcome,
  type SegmentSchemas,
  translateMessage,
} from "../segment/message.ts";

export interface SegmentDeps extends AuthDeps {
  publisher: EventPublisher;
  limits: EventLimits;
}

const rejectedMessage = v.object({
  index: v.pipe(v.number(), v.description("The message's position in `batch`, from 0.")),
  messageId: v.optional(v.string()),
  details: v.pipe(
    v.record(v.string(), v.array(v.string())),
    v.description("The rules the message broke, keyed by the path of each bad field (`batch.3.userId`)."),
  ),
});
export const segmentAnswer = v.object({
  success: v.literal(true),
  accepted: v.pipe(v.number(), v.description("Messages accepted: durable in JetStream.")),
  rejected: v.optional(v.pipe(v.array(rejectedMessage), v.description("Messages left out, and why."))),
});

const writeKeyChallenge: KeyChallenge = {
  wwwAuthenticate: 'Basic realm="evpipe"',
  message:
    "A valid write key is required (Authorization: Basic, a writeKey in the body, X-API-Key or Authorization: Bearer).",
};

/**
 * The `writeKey` of a body, found by the engine's own JSON.parse: cheap enough to run before the key is known,
 * unlike the full reading (exact numbers, repeated keys) a request gets once it is let in.
 */
function writeKeyOf(text: string): string | undefined {
  try {
    const body: unknown = JSON.parse(text);
    return typeof body === "object" && body !== null && "writeKey" in body && typeof body.writeKey === "string"
      ? body.writeKey
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The write key from the headers, or else from the body's `writeKey`: then the body is read first (within
 * the request limit, gzip included) and kept for the handler.
 */
function requireWriteKey(deps: SegmentDeps) {
  return createMiddleware<GatewayEnv>(async (c, next) => {
    refuseKeyInUrl(c, writeKeyChallenge);
    const header = (name: string) => c.req.header(name);
    let key = presentedKey(header) ?? basicAuthUser(header("authorization"));
    if (key === undefined) {
      const text = await readText(c, deps.limits.maxSegmentBodyBytes);
      c.set("bodyText", text);
      key = writeKeyOf(text);
    }
    admitKey(c, deps, key, "ingest", writeKeyChallenge);
    await next();
  });
}

type Rejected = v.InferOutput<typeof rejectedMessage>;

const withoutAbsent = <T extends object>(fields: T): Partial<T> =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value != null)) as Partial<T>;

/** The accepted events, and the rejected messages with each bad field's path inside the request (`batch.3.userId`). */
function sortOutcomes(outcomes: readonly MessageOutcome[]) {
  const events: EnvelopeEvent[] = [];
  const rejected: Rejected[] = [];
  outcomes.forEach((outcome, index) => {
    if (outcome.kind === "accepted") {
      events.push(outcome.event);
      return;
    }
    const prefix = `batch.${index}`;
    const details = Object.fromEntries(
      Object.entries(outcome.details).map(([path, rules]) => [path === "body" ? prefix : `${prefix}.${path}`, rules]),
    );
    rejected.push({ index, ...(outcome.messageId === undefined ? {} : { messageId: outcome.messageId }), details });
  });
  return { events, rejected };
}

const answers = '`200 {"success": true}` once JetStream has acknowledged every accepted message';

/** Publishes the accepted events (when there are any) and answers 200 with what was left out, and why. */
async function accept(
  c: Context<GatewayEnv>,
  publisher: EventPublisher,
  events: readonly EnvelopeEvent[],
  rejected: readonly Rejected[],
) {
  if (events.length > 0) await publishAccepted(c, publisher, events);
  if (rejected.length > 0) {
    c.set("rejectedMessages", rejected.length);
    c.set("firstRejection", (rejected[0] as Rejected).details);
  }
  const answer: v.InferOutput<typeof segmentAnswer> = {
    success: true,
    accepted: events.length,
    ...(rejected.length > 0 ? { rejected: [...rejected] } : {}),
  };
  return c.json(answer, 200);
}

const describe = (summary: string, description: string, body: v.GenericSchema) =>
  describeOperation({
    tags: ["Segment-compatible"],
    summary,
    description:
      `${description} Authenticated by \`Authorization: Basic base64(<key>:)\`, a \`writeKey\` in the body, ` +
      "or our own headers. Any Content-Type is read as JSON (the RudderStack SDK sends gzip as " +
      `x-www-form-urlencoded). Answers ${answers}.`,
    scope: "ingest",
    basicAuth: true,
    requestBody: { required: true, content: json(body) },
    responses: { 200: success("Accepted: every accepted message is durable in JetStream.", segmentAnswer) },
    errors: ["INVALID_JSON", "VALIDATION_ERROR", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "UNAVAILABLE"],
  });

export function segmentRoutes(deps: SegmentDeps) {
  const schemas: SegmentSchemas = createSegmentSchemas(deps.limits);
  const writeKey = requireWriteKey(deps);
  /** The request's JSON, and whether its text is free of `\\u` escapes (see metadataProblem's textIsSafe). */
  const bodyOf = async (c: Context<GatewayEnv>) => {
    const text = c.get("bodyText") ?? (await readText(c, deps.limits.maxSegmentBodyBytes));
    return { body: parseJsonBody(text), textIsSafe: !text.includes("\\u") };
  };

  const app = new Hono<GatewayEnv>().post(
    "/batch",
    describe(
      "Send a batch of Segment messages",
      "A message that breaks a rule is left out and reported under `rejected`; the others are accepted.",
      schemas.batchDocument,
    ),
    writeKey,
    async (c) => {
      const receivedAtMs = deps.now();
      const { body: input, textIsSafe } = await bodyOf(c);
      const body = parseOrReject(schemas.batchBody, input, "field(s) are invalid");
      const inherited = { sentAt: body.sentAt, context: body.context, integrations: body.integrations };
      const stamp = provenance(c, new Date(receivedAtMs).toISOString());
      const scope = { provenance: stamp, receivedAtMs, inherited: withoutAbsent(inherited), textIsSafe };
      const { events, rejected } = sortOutcomes(body.batch.map((message) => translateMessage(schemas, message, scope)));
      return accept(c, deps.publisher, events, rejected);
    },
  );
  for (const type of eventTypes) addSingleRoute(app, type);
  return app;

  function addSingleRoute(routes: Hono<GatewayEnv>, type: EventType) {
    routes.post(
      `/${type}`,
      describe(`Send one ${type} call`, "One message; its `type` is the route's.", schemas.singleDocument),
      writeKey,
      async (c) => {
        const receivedAtMs = deps.now();
        const { body, textIsSafe } = await bodyOf(c);
        const outcome = translateMessage(schemas, body, {
          provenance: provenance(c, new Date(receivedAtMs).toISOString()),
          receivedAtMs,
          inherited: {},
          type,
          textIsSafe,
        });
        if (outcome.kind === "rejected") {
          const count = Object.keys(outcome.details).length;
          throw new ApiError("VALIDATION_ERROR", `${count} field(s) of the message are invalid.`, {
            details: outcome.details,
          });
        }
        return accept(c, deps.publisher, [outcome.event], []);
      },
    );
  }
}
