import { issueDetails } from "@evpipe/shared";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as v from "valibot";

/** Every error code the API can answer with, and its status. */
export const errorStatus = {
  INVALID_JSON: 400,
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof errorStatus;

const errorCodes = Object.keys(errorStatus) as ErrorCode[];

/** The error envelope, for the given codes (all of them by default); the API reference shows it per status. */
export function errorBodyOf(codes: readonly ErrorCode[] = errorCodes) {
  return v.strictObject({
    error: v.strictObject({
      code: v.picklist(codes),
      message: v.string(),
      details: v.optional(
        v.pipe(
          v.record(v.string(), v.array(v.string())),
          v.description("The rules each bad field broke, keyed by its dot path (`events.3.user_id`)."),
        ),
      ),
      request_id: v.pipe(v.string(), v.description("The X-Request-Id of the request; quote it when reporting.")),
    }),
  });
}

export const errorBody = errorBodyOf();
export type ErrorBody = v.InferOutput<typeof errorBody>;

export class ApiError extends Error {
  override name = "ApiError";
  readonly code: ErrorCode;
  readonly details: Record<string, string[]> | undefined;
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: Record<string, string[]>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }

  get status(): ContentfulStatusCode {
    return errorStatus[this.code];
  }

  body(requestId: string): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details ? { details: this.details } : {}),
        request_id: requestId,
      },
    };
  }
}

/**
 * The parsed value, or a 400 VALIDATION_ERROR whose details name each bad field by path. `what` says what
 * was checked: "field(s) break the event rules", "query parameter(s) are invalid".
 */
export function parseOrReject<TSchema extends v.GenericSchema>(
  schema: TSchema,
  input: unknown,
  what: string,
): v.InferOutput<TSchema> {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  const details = issueDetails(result.issues);
  throw new ApiError("VALIDATION_ERROR", `${Object.keys(details).length} ${what}.`, { details });
}
