import type { Scope } from "@evpipe/shared";
import { type ConversionConfig, toJsonSchema } from "@valibot/to-json-schema";
import { type DescribeRouteOptions, describeRoute, resolver } from "hono-openapi";
import type * as v from "valibot";
import { type ErrorCode, errorBodyOf, errorStatus } from "../errors.ts";

/**
 * How the validating schemas become JSON Schema. `output`: a JSON body is first checked to be an object (a
 * custom schema) and then by its object schema, which is what the document shows. Checks that JSON Schema
 * cannot express are skipped, and each states its rule in a `v.metadata` beside it (length, pattern, format,
 * description); any other schema or action that cannot be converted fails the generation instead of vanishing.
 */
export const conversion: ConversionConfig = {
  target: "draft-2020-12",
  typeMode: "output",
  errorMode: "throw",
  ignoreActions: ["check", "raw_check", "transform", "raw_transform", "to_lower_case"],
  // The only custom schema is "a JSON object, not an array"; the metadata beside it says `type: object`.
  overrideSchema: ({ valibotSchema }) => (valibotSchema.type === "custom" ? {} : undefined),
};

type Responses = NonNullable<DescribeRouteOptions["responses"]>;
type Parameters = NonNullable<DescribeRouteOptions["parameters"]>;
type Header = { description: string; schema: { type: "string" } };

const header = (description: string): Header => ({ description, schema: { type: "string" } });
const requestIdHeader = header("The request id: the caller's X-Request-Id when well-formed, else a generated one.");
const retryAfterHeader = header("Seconds to wait before retrying.");

/** A JSON body described by the schema that validates it (or types it, for a response). */
export const json = (schema: v.GenericSchema) => ({
  "application/json": { schema: resolver(schema, { options: conversion }) },
});

/** A success response: its body schema, plus the X-Request-Id every answer carries. */
export const success = (description: string, schema: v.GenericSchema) => ({
  description,
  headers: { "X-Request-Id": requestIdHeader },
  content: json(schema),
});

const errorMeaning: Record<ErrorCode, string> = {
  INVALID_JSON: "the body is not valid UTF-8 JSON (or not valid gzip), or repeats a key in one object",
  VALIDATION_ERROR: "a rule is broken; `details` names each bad field by path",
  UNAUTHORIZED: "no key, or an unknown or revoked one, or a key in the URL",
  FORBIDDEN: "the key lacks the scope",
  NOT_FOUND: "nothing there (yet)",
  METHOD_NOT_ALLOWED: "the path exists under other methods, listed in Allow",
  PAYLOAD_TOO_LARGE: "the body is over the size limit, with or without Content-Length",
  UNSUPPORTED_MEDIA_TYPE:
    "the body's Content-Encoding is not gzip, or (on our own routes, not the Segment-compatible ones) its type is not application/json (UTF-8)",
  RATE_LIMITED: "the key's request rate is exceeded",
  INTERNAL: "a bug; the message is generic, the detail is in the log under the request id",
  UNAVAILABLE:
    "NATS did not acknowledge in time, the event store is unavailable, or the pipeline's state could not be read lately; retry (with the same ids)",
};

const statusHeaders: Partial<Record<number, Record<string, Header>>> = {
  401: { "WWW-Authenticate": header('Bearer realm="evpipe"') },
  429: { "Retry-After": retryAfterHeader },
  503: { "Retry-After": retryAfterHeader },
};

/** One response per status, each with the error envelope narrowed to that status's codes. */
export function errorResponses(codes: readonly ErrorCode[], basicAuth = false): Responses {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes))
    byStatus.set(errorStatus[code], [...(byStatus.get(errorStatus[code]) ?? []), code]);
  const responses: Responses = {};
  for (const [status, statusCodes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[status] = {
      description: statusCodes.map((code) => `${code}: ${errorMeaning[code]}`).join("; "),
      headers: {
        "X-Request-Id": requestIdHeader,
        ...statusHeaders[status],
        ...(status === 401 && basicAuth ? { "WWW-Authenticate": header('Basic realm="evpipe"') } : {}),
      },
      content: json(errorBodyOf(statusCodes)),
    };
  }
  return responses;
}

/** The query parameters an object schema accepts, each with its converted schema. */
export function queryParameters(schema: v.GenericSchema): Parameters {
  const object = toJsonSchema(schema, conversion);
  const required = new Set(object.required ?? []);
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    in: "query" as const,
    name,
    required: required.has(name),
    schema: property as object,
  }));
}

export const securitySchemes = {
  apiKey: { type: "apiKey", in: "header", name: "X-API-Key", description: "An API key (`evp_...`)." },
  bearer: { type: "http", scheme: "bearer", description: "The same API key as a bearer token." },
  basic: {
    type: "http",
    scheme: "basic",
    description: "The API key as the user name and no password: a Segment SDK's write key (Segment-compatible routes).",
  },
} as const;

interface Operation extends Omit<DescribeRouteOptions, "responses" | "security"> {
  /** The scope the key must carry; absent for the public routes. */
  scope?: Scope;
  responses: Responses;
  /** The error codes the operation itself can answer, beyond the key's and INTERNAL. */
  errors?: readonly ErrorCode[];
  /** The key may also come as Basic auth's user name (the Segment-compatible routes). */
  basicAuth?: boolean;
}

/**
 * The route's entry in the API reference, as middleware beside its handler (hono-openapi finds it in
 * app.routes). A scope adds both auth schemes, naming the scope, and the key's 401, 403 and 429.
 */
export function describeOperation({ scope, errors = [], responses, basicAuth = false, ...operation }: Operation) {
  const keyErrors: ErrorCode[] = scope ? ["UNAUTHORIZED", "FORBIDDEN", "RATE_LIMITED"] : [];
  const schemes = basicAuth ? (["basic", "apiKey", "bearer"] as const) : (["apiKey", "bearer"] as const);
  return describeRoute({
    ...operation,
    description: scope
      ? `${operation.description ?? ""}\n\nNeeds a key with the \`${scope}\` scope.`.trim()
      : operation.description,
    security: scope ? schemes.map((scheme) => ({ [scheme]: [scope] })) : [],
    ...(scope ? { "x-required-scope": scope } : {}),
    responses: { ...responses, ...errorResponses([...keyErrors, ...errors, "INTERNAL"], basicAuth) },
  });
}
