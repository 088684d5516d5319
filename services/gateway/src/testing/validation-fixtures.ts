/** What the validation tests share: a valid event, the rules' messages, and the shape of a case. */
export const now = Date.parse("2026-11-23T12:00:00.000Z");
export const valid = { event: "signup", user_id: "user-1" };

export function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let level = 1; level < depth; level++) value = { child: value };
  return value;
}

/** A metadata object whose JSON serialization is exactly `bytes` long. */
export function metadataOfSize(bytes: number): Record<string, string> {
  const overhead = JSON.stringify({ pad: "" }).length;
  return { pad: "x".repeat(bytes - overhead) };
}

export const textRule = "must be a string of 1 to 128 characters without control characters";
export const tsRule = "must be an RFC 3339 date-time with offset";

export interface ValidationCase {
  name: string;
  path?: string;
  body: unknown;
  /** Send `body` as these exact bytes instead of JSON. */
  raw?: string | Uint8Array;
  contentType?: string | null;
  status: number;
  code: string;
  details?: Record<string, string[]>;
}
