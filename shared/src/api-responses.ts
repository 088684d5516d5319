import * as v from "valibot";
import { eventTypes } from "./event-types.ts";

/**
 * The bodies the gateway's read routes answer with: the routes type their answers with these, the OpenAPI
 * document is generated from them, and the dashboard parses what it fetches with them. Only valibot and
 * plain data here, so a browser bundle can import this module alone (`@evpipe/shared/api-responses`).
 */

const count = v.pipe(v.number(), v.integer(), v.minValue(0));

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
  type: v.picklist(eventTypes),
  anonymous_id: v.nullable(v.string()),
});

export const userEventsResponse = v.object({
  events: v.array(storedEventResponse),
  next_cursor: v.nullable(v.string()),
});

export const dauResponse = v.object({
  from: v.string(),
  to: v.string(),
  days: v.array(v.object({ day: v.string(), users: count })),
});

export const topEventsResponse = v.object({
  from: v.string(),
  to: v.string(),
  events: v.array(v.object({ event: v.string(), count, users: count })),
});

export const retentionResponse = v.object({
  from: v.string(),
  to: v.string(),
  days: count,
  cohorts: v.array(v.object({ cohort: v.string(), users: count, retained: v.array(count) })),
});

/** The error envelope every failing answer carries (PRODUCT.md §3). */
export const errorResponse = v.object({
  error: v.object({
    code: v.string(),
    message: v.string(),
    details: v.optional(v.record(v.string(), v.array(v.string()))),
    request_id: v.string(),
  }),
});

const destinationHealth = v.object({
  name: v.string(),
  type: v.string(),
  state: v.picklist(["active", "paused"]),
  /** Messages still to deliver or settle; null until the forwarder has made the destination's consumer. */
  lag: v.nullable(count),
  delivered: count,
  failed: count,
  retried: count,
  dead_letters: count,
  last_success_at: v.nullable(v.string()),
  last_error: v.nullable(v.object({ at: v.string(), message: v.string() })),
});

/**
 * The pipeline at a glance, for operators: sampled from JetStream and from what the services report, never
 * read from the events table, so calling it costs the same at any volume.
 */
export const pipelineSummaryResponse = v.object({
  /** When JetStream was last read (RFC 3339). */
  sampled_at: v.string(),
  /** How often the sample is renewed: polling faster returns the same answer. */
  refresh_ms: count,
  ingest: v.object({
    /** Events per second over the last few reports of every gateway, and of every consumer; null until known. */
    accepted_per_second: v.nullable(v.number()),
    stored_per_second: v.nullable(v.number()),
    /** Instances that reported recently. */
    gateways: count,
    consumers: count,
  }),
  /** The PostgreSQL writer's backlog in messages (one per accepted request); null before its consumer exists. */
  writer: v.nullable(v.object({ lag: count, pending: count, unacknowledged: count })),
  events_stream: v.object({ messages: count, bytes: count, max_bytes: v.nullable(count) }),
  dead_letters: v.object({
    /** Dead letters waiting in EVENTS_DLQ. */
    messages: count,
    /** The same by reason; null when the queue is larger than the gateway tallies (see `pnpm ops dlq stats`). */
    by_reason: v.nullable(v.object({ retries_exhausted: count, permanent_error: count })),
  }),
  destinations: v.array(destinationHealth),
});

export type StoredEventResponse = v.InferOutput<typeof storedEventResponse>;
export type PipelineSummary = v.InferOutput<typeof pipelineSummaryResponse>;
