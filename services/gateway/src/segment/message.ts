import {
  type EnvelopeEvent,
  type EventLimits,
  type EventType,
  eventTypes,
  isJsonObject,
  issueDetails,
  metadataProblem,
  objectMessage,
  textField,
} from "@evpipe/shared";
import * as v from "valibot";
import { uuidv7 } from "../ids.ts";
import { eventTimeText } from "./event-time.ts";
import { eventIdOfMessageId } from "./message-id.ts";

const jsonObjectRule = "must be a JSON object";

// Every field of the spec may also be null, as the SDKs send it when the caller passed null: it counts as absent.
const objectField = (description: string) =>
  v.nullish(
    v.pipe(
      v.custom<Record<string, unknown>>(isJsonObject, jsonObjectRule),
      v.metadata({ type: "object", description }),
    ),
  );

// Never a reason to drop a message: an unreadable time falls back to the next rule (event-time.ts).
const timeField = (description: string) =>
  v.optional(v.pipe(v.unknown(), v.metadata({ type: "string", format: "date-time", description })));

const messageIdRule = "must be a string of 1 to 100 characters";
const idRule = "must be a non-empty string or a number";

/** What the whole request may carry beside its messages; `context` and `integrations` apply to each message. */
const batchEntries = {
  sentAt: timeField("When the client sent the batch, on its own clock; a message's own sentAt wins."),
  context: objectField("Context for every message that has none of its own."),
  integrations: objectField("Integrations for every message that has none of its own."),
  writeKey: v.nullish(v.pipe(v.string(), v.description("The write key, when it is not in Authorization."))),
};

/**
 * The Segment HTTP Tracking API's message (PRODUCT.md §3): the fields of the spec are checked where we use
 * them, any other field is kept as sent. `type` is set by the single-message routes. A user id may be a number
 * (rudder-sdk-node converts them, analytics-node passes them on); it is stored as its decimal text.
 */
function messageEntries(limits: EventLimits) {
  const text = textField(limits);
  const userField = v.nullish(v.union([text, v.pipe(v.number(), v.finite())], text.message));
  const idField = v.nullish(v.union([v.pipe(v.string(idRule), v.minLength(1, idRule)), v.number(idRule)], idRule));
  return {
    type: v.picklist(eventTypes, `must be one of ${eventTypes.join(", ")}`),
    messageId: v.nullish(
      v.pipe(v.string(messageIdRule), v.minLength(1, messageIdRule), v.maxLength(100, messageIdRule)),
    ),
    userId: userField,
    anonymousId: userField,
    event: v.nullish(text),
    name: v.nullish(v.pipe(v.unknown(), v.metadata({ type: "string", description: "A page's or screen's name." }))),
    groupId: idField,
    previousId: idField,
    properties: objectField("The event's or page's properties."),
    traits: objectField("The user's or group's traits."),
    context: batchEntries.context,
    integrations: batchEntries.integrations,
    timestamp: timeField("When the event happened, as the producer states it."),
    originalTimestamp: timeField("When the call was made, on the client's clock."),
    sentAt: timeField("When the client sent the message, on its own clock."),
  };
}

type Issue = Parameters<Parameters<typeof v.rawCheck>[0]>[0]["addIssue"];

/** The fields the message's type needs beyond the spec's types (which the object schema checks). */
function requireFields(message: Record<string, unknown>, addIssue: Issue) {
  const missing = (key: string, message: string) =>
    addIssue({ message, path: [{ type: "object", origin: "value", input: {}, key, value: undefined }] });
  if (message.userId == null && message.anonymousId == null) {
    missing("userId", "is required when there is no anonymousId");
  }
  if (message.type === "track" && message.event == null) missing("event", "is required for a track call");
  if (message.type === "group" && message.groupId == null) missing("groupId", "is required for a group call");
  if (message.type === "alias") {
    if (message.previousId == null) missing("previousId", "is required for an alias call");
    if (message.userId == null) missing("userId", "is required for an alias call");
  }
}

export function createSegmentSchemas(limits: EventLimits) {
  const entries = messageEntries(limits);
  const message = v.pipe(
    v.custom<Record<string, unknown>>(isJsonObject, jsonObjectRule),
    v.looseObject(entries, objectMessage),
    v.rawCheck(({ dataset, addIssue }) => {
      if (dataset.typed) requireFields(dataset.value, addIssue);
    }),
  );
  const maxMessages = limits.maxSegmentBatchMessages;
  const countRule = `must hold 1 to ${maxMessages} messages`;
  const batch = v.pipe(
    v.array(v.unknown(), "must be an array of messages"),
    v.minLength(1, countRule),
    v.maxLength(maxMessages, countRule),
  );
  const batchBody = v.pipe(
    v.custom<Record<string, unknown>>(isJsonObject, jsonObjectRule),
    v.looseObject({ ...batchEntries, batch }, objectMessage),
  );
  // For the API reference only: validation takes the batch's messages one by one, so one bad message
  // cannot refuse the others (the SDKs drop a whole batch on 400).
  const batchDocument = v.looseObject({
    ...batchEntries,
    batch: v.pipe(v.array(message), v.minLength(1), v.maxLength(maxMessages)),
  });
  // A single-message route sets the type itself.
  const singleDocument = v.looseObject({ ...entries, type: v.optional(entries.type), writeKey: batchEntries.writeKey });
  // The page or screen name that becomes the event name must be a valid one; otherwise the type is.
  const eventName = textField(limits);
  const storable = { ...limits, maxMetadataBytes: limits.maxSegmentMessageBytes };
  return { message, batchBody, batchDocument, singleDocument, eventName, storable };
}

export type SegmentSchemas = ReturnType<typeof createSegmentSchemas>;
type SegmentMessage = v.InferOutput<SegmentSchemas["message"]>;
/** What a message inherits from its batch when it has none of its own (Segment's batch behaviour). */
export type InheritedFields = Pick<v.InferOutput<SegmentSchemas["batchBody"]>, "sentAt" | "context" | "integrations">;

export type MessageOutcome =
  | { kind: "accepted"; event: EnvelopeEvent }
  | { kind: "rejected"; messageId?: string; details: Record<string, string[]> };

export interface MessageScope {
  /** The request's provenance, which every event of it carries (see accept.ts). */
  provenance: { received_at: string; request_id: string; key_id: string };
  receivedAtMs: number;
  /** The batch's fields each message inherits when it lacks them; nothing else of the batch (rudder-sdk-node
   * puts its send time in a batch `timestamp`, which is no message's event time). */
  inherited: InheritedFields;
  /** Set by a single-message route (`/v1/track`...), overriding the message's own. */
  type?: EventType;
  /** The request's text had no `\u` escape: no string in it can hold a NUL or a lone surrogate. */
  textIsSafe: boolean;
}

function eventName(schemas: SegmentSchemas, message: SegmentMessage): string {
  if (message.type === "track") return message.event as string;
  if (message.type === "page" || message.type === "screen") {
    return v.is(schemas.eventName, message.name) ? message.name : message.type;
  }
  return message.type;
}

const idText = (id: string | number | null | undefined) => (id == null ? undefined : String(id));

/**
 * What becomes of one Segment message: our event (`type`, the user as `userId` or else `anonymousId`, its
 * name, the corrected time, and the message as its metadata: as sent, with what it inherits from its batch and
 * its route's type), or the rules it broke, keyed by field. The write key is not kept: it is a credential.
 */
export function translateMessage(schemas: SegmentSchemas, input: unknown, scope: MessageScope): MessageOutcome {
  const composed = isJsonObject(input)
    ? { ...scope.inherited, ...withoutWriteKey(input), ...(scope.type ? { type: scope.type } : {}) }
    : input;
  const result = v.safeParse(schemas.message, composed);
  const problem = result.success ? metadataProblem(composed, schemas.storable, scope.textIsSafe) : undefined;
  if (!result.success || problem) {
    const messageId = isJsonObject(input) && typeof input.messageId === "string" ? input.messageId : undefined;
    return {
      kind: "rejected",
      ...(messageId === undefined ? {} : { messageId }),
      // The message is stored whole as the event's metadata: it must be storable and within its size.
      details: result.success ? { body: [`the message ${problem?.message}`] } : issueDetails(result.issues),
    };
  }
  const message = result.output;
  const anonymousId = idText(message.anonymousId);
  return {
    kind: "accepted",
    event: {
      id: message.messageId == null ? uuidv7() : eventIdOfMessageId(message.messageId, scope.provenance.key_id),
      type: message.type,
      event: eventName(schemas, message),
      user_id: (idText(message.userId) ?? anonymousId) as string,
      ...(anonymousId === undefined ? {} : { anonymous_id: anonymousId }),
      client_ts: eventTimeText(message, scope.receivedAtMs),
      // The composed object, not valibot's copy: that would leave out keys like `constructor` or `__proto__`.
      metadata: composed as Record<string, unknown>,
      ...scope.provenance,
    },
  };
}

function withoutWriteKey(message: Record<string, unknown>): Record<string, unknown> {
  if (!Object.hasOwn(message, "writeKey")) return message;
  const { writeKey: _, ...kept } = message;
  return kept;
}
