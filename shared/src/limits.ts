import type * as v from "valibot";
import { integerVar } from "./config.ts";

/** Input limits of PRODUCT.md §3; configurable, these are the defaults. */
export interface EventLimits {
  readonly maxTextChars: number;
  readonly maxMetadataBytes: number;
  readonly maxMetadataDepth: number;
  readonly maxFutureSkewMs: number;
  readonly maxBatchEvents: number;
  readonly maxBodyBytes: number;
  /** The Segment-compatible routes' limits (PRODUCT.md §3): one message, and one request after decompression. */
  readonly maxSegmentMessageBytes: number;
  readonly maxSegmentBodyBytes: number;
  readonly maxSegmentBatchMessages: number;
}

export const defaultEventLimits: EventLimits = {
  maxTextChars: 128,
  maxMetadataBytes: 16 * 1024,
  maxMetadataDepth: 10,
  maxFutureSkewMs: 60 * 60 * 1000,
  maxBatchEvents: 1000,
  maxBodyBytes: 1024 * 1024,
  maxSegmentMessageBytes: 32 * 1024,
  maxSegmentBodyBytes: 500 * 1024,
  maxSegmentBatchMessages: 2500,
};

/** The env variables that set the limits; both services read the same ones so they agree. */
export const eventLimitsEnv = {
  MAX_TEXT_CHARS: integerVar(defaultEventLimits.maxTextChars, 1, 10_000),
  MAX_METADATA_BYTES: integerVar(defaultEventLimits.maxMetadataBytes, 2, 1024 * 1024),
  MAX_METADATA_DEPTH: integerVar(defaultEventLimits.maxMetadataDepth, 1, 1000),
  MAX_FUTURE_SKEW_MS: integerVar(defaultEventLimits.maxFutureSkewMs, 0, 365 * 24 * 3600 * 1000),
  MAX_BATCH_EVENTS: integerVar(defaultEventLimits.maxBatchEvents, 1, 100_000),
  MAX_BODY_BYTES: integerVar(defaultEventLimits.maxBodyBytes, 1024, 64 * 1024 * 1024),
  SEGMENT_MAX_MESSAGE_BYTES: integerVar(defaultEventLimits.maxSegmentMessageBytes, 1024, 1024 * 1024),
  SEGMENT_MAX_BODY_BYTES: integerVar(defaultEventLimits.maxSegmentBodyBytes, 1024, 64 * 1024 * 1024),
  SEGMENT_MAX_BATCH_MESSAGES: integerVar(defaultEventLimits.maxSegmentBatchMessages, 1, 100_000),
};

export function eventLimitsFrom(env: v.InferOutput<v.ObjectSchema<typeof eventLimitsEnv, undefined>>): EventLimits {
  return {
    maxTextChars: env.MAX_TEXT_CHARS,
    maxMetadataBytes: env.MAX_METADATA_BYTES,
    maxMetadataDepth: env.MAX_METADATA_DEPTH,
    maxFutureSkewMs: env.MAX_FUTURE_SKEW_MS,
    maxBatchEvents: env.MAX_BATCH_EVENTS,
    maxBodyBytes: env.MAX_BODY_BYTES,
    maxSegmentMessageBytes: env.SEGMENT_MAX_MESSAGE_BYTES,
    maxSegmentBodyBytes: env.SEGMENT_MAX_BODY_BYTES,
    maxSegmentBatchMessages: env.SEGMENT_MAX_BATCH_MESSAGES,
  };
}
