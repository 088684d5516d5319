import { closedObject, isUtcDay, wholeNumberText } from "@evpipe/shared";
import * as v from "valibot";
import { ApiError, parseOrReject } from "../errors.ts";

const dayRule = "must be a date as YYYY-MM-DD";
export const maxRangeDays = 366;

export const dayParam = v.pipe(
  v.string(dayRule),
  v.metadata({ format: "date", description: "A UTC day, YYYY-MM-DD." }),
  v.check(isUtcDay, dayRule),
);

export function integerParam(fallback: number, min: number, max: number) {
  const described = v.pipe(
    wholeNumberText(min, max),
    v.metadata({ pattern: "^[0-9]+$", description: `A whole number from ${min} to ${max}.` }),
  );
  return v.optional(described, String(fallback));
}

const rangeDays = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 86_400_000 + 1;

/** `from` and `to` (UTC days, inclusive) plus the given parameters; see checkRange for how they relate. */
export function rangeQuery<const TEntries extends v.ObjectEntries>(entries: TEntries) {
  return queryObject({ from: dayParam, to: dayParam, ...entries });
}

/** Query parameters: each unknown one named, each missing one required. */
export function queryObject<const TEntries extends v.ObjectEntries>(entries: TEntries) {
  return closedObject(
    entries,
    (issue) => (issue.expected === "never" ? "is not a known parameter" : "is required"),
    "is not a known parameter",
  );
}

/** `to` not before `from`, and at most 366 days in all; else 400 naming `to`. */
export function checkRange(from: string, to: string): void {
  const problem =
    to < from
      ? "must not be before from"
      : rangeDays(from, to) > maxRangeDays
        ? `must be at most ${maxRangeDays} days after from`
        : undefined;
  if (problem)
    throw new ApiError("VALIDATION_ERROR", "1 query parameter(s) are invalid.", { details: { to: [problem] } });
}

/** Parses query parameters, or answers 400 VALIDATION_ERROR naming each bad parameter. */
export const parseQuery = <TSchema extends v.GenericSchema>(schema: TSchema, query: Record<string, string>) =>
  parseOrReject(schema, query, "query parameter(s) are invalid");
