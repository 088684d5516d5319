import * as v from "valibot";
import { decimalText, isRawJsonNumber, storedNumericLength } from "./json-text.ts";
import type { EventLimits } from "./limits.ts";

export { type EventType, eventTypes } from "./event-types.ts";

// Cc is C0, DEL and C1; lone surrogates are caught by isWellFormed.
const controlCharacter = /\p{Cc}/u;
const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

function codePointLength(value: string): number {
  let count = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < value.length) i++;
    count++;
  }
  return count;
}

const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/** Milliseconds since the epoch of an RFC 3339 date-time with offset, or NaN when it is not one (2026-02-30 is not). */
export function parseRfc3339(value: string): number {
  const match = rfc3339.exec(value);
  if (!match) return Number.NaN;
  const [, year, month, day, hour, minute, second, offsetHour, offsetMinute] = match.map(Number) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number | undefined,
    number | undefined,
  ];
  const daysInMonth = month === 2 ? (isLeapYear(year) ? 29 : 28) : 30 + ((month + (month >> 3)) & 1);
  // Year 0000 is valid RFC 3339 but PostgreSQL cannot store it.
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth) return Number.NaN;
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  if ((offsetHour ?? 0) > 23 || (offsetMinute ?? 0) > 59) return Number.NaN;
  return Date.parse(value.toUpperCase());
}

/** What PostgreSQL's numeric (and so jsonb) holds: 131072 digits before the decimal point, 16383 after it. */
export const postgresNumericLimits = { integerDigits: 131_072, fractionDigits: 16_383 } as const;

const numericRule =
  `must be a number PostgreSQL can store: at most ${postgresNumericLimits.integerDigits} digits before ` +
  `the decimal point and ${postgresNumericLimits.fractionDigits} after it`;

/**
 * Whether PostgreSQL can store this number text as written. numeric keeps the written scale (`1.50` keeps
 * its trailing zero), so the fraction digits are counted as written; the integer digits are the value's.
 */
export function fitsPostgresNumeric(text: string): boolean {
  const { fraction, exponent, integerDigits } = decimalText(text);
  if (fraction.length - exponent > postgresNumericLimits.fractionDigits) return false;
  // Zero fits whatever its exponent (its integerDigits is 1); otherwise the value's magnitude decides.
  return integerDigits <= postgresNumericLimits.integerDigits;
}

/** One step from a container of the metadata down to the offending value. */
export interface MetadataPathStep {
  container: Record<string, unknown> | unknown[];
  key: string | number;
  value: unknown;
}

export interface MetadataProblem {
  message: string;
  /** Where inside the metadata; empty when the problem is the metadata as a whole. */
  path: MetadataPathStep[];
}

interface MetadataNode {
  node: unknown;
  depth: number;
  key: string | number;
  parent: MetadataNode | undefined;
}

function pathOf(entry: MetadataNode): MetadataPathStep[] {
  const path: MetadataPathStep[] = [];
  for (let at = entry; at.parent; at = at.parent) {
    path.unshift({ container: at.parent.node as MetadataPathStep["container"], key: at.key, value: at.node });
  }
  return path;
}

const whole = (message: string): MetadataProblem => ({ message, path: [] });

function textProblem(text: string): string | undefined {
  if (text.includes("\u0000")) return "must not contain NUL characters";
  if (!text.isWellFormed()) return "must not contain lone surrogates";
  return undefined;
}

/**
 * Why a metadata value is unacceptable, or undefined when it is fine. Walks the value with an explicit
 * stack, so hostile nesting cannot overflow the call stack. A raw JSON number (parseJsonText's, for a value
 * a JS number cannot hold) is a number, not an object; the size counts it as PostgreSQL will print it back.
 * `textIsSafe`: the value was parsed from well-formed UTF-8 JSON text without a `\u` escape, so no string or key
 * can hold a NUL or a lone surrogate (JSON has no raw control characters in strings) and they are not checked.
 */
export function metadataProblem(value: unknown, limits: EventLimits, textIsSafe = false): MetadataProblem | undefined {
  if (!isJsonObject(value)) return whole("must be a JSON object");
  const stack: MetadataNode[] = [{ node: value, depth: 1, key: "", parent: undefined }];
  // Characters a raw number gains when PostgreSQL prints it back (see storedNumericLength).
  let expansion = 0;
  // At least what JSON.stringify writes (a UTF-16 unit is at most 6 bytes, a JS number 25, a comma each): measuring
  // every metadata by serializing it was ~7% of gateway and consumer CPU; only one this bound can't clear is.
  let bound = 0;
  while (stack.length > 0) {
    const entry = stack.pop() as MetadataNode;
    const { node, depth } = entry;
    if (typeof node === "string") {
      bound += 3 + 6 * node.length;
      const problem = textIsSafe ? undefined : textProblem(node);
      if (problem) return whole(problem);
      continue;
    }
    if (typeof node !== "object" || node === null) {
      bound += node === null || typeof node === "number" || typeof node === "boolean" ? 26 : Infinity;
      continue;
    }
    if (isRawJsonNumber(node)) {
      if (!fitsPostgresNumeric(node.rawJSON)) return { message: numericRule, path: pathOf(entry) };
      expansion += Math.max(0, storedNumericLength(node.rawJSON) - node.rawJSON.length);
      bound += node.rawJSON.length + 1;
      continue;
    }
    bound += typeof (node as { toJSON?: unknown }).toJSON === "function" ? Infinity : 3;
    if (depth > limits.maxMetadataDepth) return whole(`must be at most ${limits.maxMetadataDepth} levels deep`);
    if (Array.isArray(node)) {
      for (let index = 0; index < node.length; index++) {
        stack.push({ node: node[index], depth: depth + 1, key: index, parent: entry });
      }
      continue;
    }
    for (const key of Object.keys(node)) {
      const problem = textIsSafe ? undefined : textProblem(key);
      if (problem) return whole(problem);
      bound += 3 + 6 * key.length;
      stack.push({ node: (node as Record<string, unknown>)[key], depth: depth + 1, key, parent: entry });
    }
  }
  if (bound + expansion <= limits.maxMetadataBytes) return undefined;
  if (Buffer.byteLength(JSON.stringify(value)) + expansion > limits.maxMetadataBytes) {
    return whole(`must be at most ${limits.maxMetadataBytes} bytes serialized`);
  }
  return undefined;
}

export function textField(limits: EventLimits) {
  const rule = `must be a string of 1 to ${limits.maxTextChars} characters without control characters`;
  return v.pipe(
    v.string(rule),
    // What JSON Schema can say of the check below (its maxLength counts code points too).
    v.metadata({ minLength: 1, maxLength: limits.maxTextChars, pattern: "^\\P{Cc}*$", description: rule }),
    v.check(
      (value) =>
        value.length > 0 &&
        codePointLength(value) <= limits.maxTextChars &&
        !controlCharacter.test(value) &&
        value.isWellFormed(),
      rule,
    ),
  );
}

export const uuidField = v.pipe(v.string("must be a UUID"), v.uuid("must be a UUID"), v.toLowerCase());

const clientTsRule = "must be an RFC 3339 date-time with offset";

/** Parses once for both rules; `now` is given only where the future-skew rule applies (the gateway). */
function clientTsField(limits: EventLimits, now?: () => number) {
  const futureRule = `must be at most ${Math.round(limits.maxFutureSkewMs / 1000)} seconds in the future`;
  return v.pipe(
    v.string(clientTsRule),
    v.metadata({ format: "date-time", description: `${clientTsRule}; ${futureRule}` }),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const ms = parseRfc3339(dataset.value);
      if (Number.isNaN(ms)) addIssue({ message: clientTsRule });
      else if (now && ms > now() + limits.maxFutureSkewMs) addIssue({ message: futureRule });
    }),
  );
}

function metadataField(limits: EventLimits) {
  const rule =
    `A JSON object of at most ${limits.maxMetadataBytes} bytes serialized and ${limits.maxMetadataDepth} levels ` +
    "deep, with no NUL character in any key or string.";
  return v.pipe(
    v.custom<Record<string, unknown>>(isJsonObject, "must be a JSON object"),
    v.metadata({ type: "object", description: rule }),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const problem = metadataProblem(dataset.value, limits);
      if (!problem) return;
      const [first, ...rest] = problem.path.map(issuePathItem);
      addIssue({ message: problem.message, ...(first ? { path: [first, ...rest] } : {}) });
    }),
  );
}

function issuePathItem({ container, key, value }: MetadataPathStep): v.IssuePathItem {
  return Array.isArray(container)
    ? { type: "array", origin: "value", input: container, key: key as number, value }
    : { type: "object", origin: "value", input: container, key: key as string, value };
}

// A raw JSON number is a (frozen, null-prototype) object to typeof, but a number to JSON.
export const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !isRawJsonNumber(value);

/**
 * A strict object that names every unknown key: valibot's strictObject stops at the first one it meets, so a
 * check after it reads the object from that issue and names the others (a client fixes them all at once).
 */
export function closedObject<const TEntries extends v.ObjectEntries>(
  entries: TEntries,
  message: v.ErrorMessage<v.StrictObjectIssue>,
  unknownKey: string,
) {
  return v.pipe(
    v.strictObject(entries, message),
    v.rawCheck(({ dataset, addIssue }) => {
      const first = dataset.issues?.find((issue) => issue.expected === "never" && issue.path?.length === 1)?.path?.[0];
      if (first?.type !== "object") return;
      const input = first.input;
      for (const key of Object.keys(input)) {
        if (key === first.key || Object.hasOwn(entries, key)) continue;
        addIssue({ message: unknownKey, path: [{ type: "object", origin: "key", input, key, value: input[key] }] });
      }
    }),
  );
}

/** valibot's object schemas take arrays for objects; JSON bodies must not. */
export function jsonObject<const TEntries extends v.ObjectEntries>(entries: TEntries) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isJsonObject, "must be a JSON object"),
    closedObject(entries, objectMessage, "is not a known field"),
  );
}

/** The message of an object schema's issue: an unknown field, a missing one, or not an object at all. */
export function objectMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.expected === "never") return "is not a known field";
  if (issue.expected?.startsWith('"')) return "is required";
  return "must be a JSON object";
}

export function eventEntries(limits: EventLimits, now?: () => number) {
  return {
    id: v.optional(uuidField),
    event: textField(limits),
    user_id: textField(limits),
    client_ts: v.optional(clientTsField(limits, now)),
    metadata: v.optional(metadataField(limits)),
  };
}

/**
 * What a producer sends. `now` is the gateway's clock: client_ts may be at most maxFutureSkewMs ahead of it.
 */
export function createIngestSchemas(limits: EventLimits, now: () => number = Date.now) {
  const event = jsonObject(eventEntries(limits, now));
  const batch = jsonObject({
    events: v.pipe(
      v.array(event, "must be an array of events"),
      v.minLength(1, `must hold 1 to ${limits.maxBatchEvents} events`),
      v.maxLength(limits.maxBatchEvents, `must hold 1 to ${limits.maxBatchEvents} events`),
    ),
  });
  return { event, batch };
}

export type IngestSchemas = ReturnType<typeof createIngestSchemas>;
export type IngestEvent = v.InferOutput<IngestSchemas["event"]>;

/** Validation issues keyed by dot path (`events.3.user_id`); issues about the whole body go under `body`. */
export function issueDetails(issues: readonly v.BaseIssue<unknown>[]): Record<string, string[]> {
  // A Map, not an object: a field named "__proto__" or "constructor" must be a key like any other.
  const details = new Map<string, string[]>();
  for (const issue of issues) {
    const path = v.getDotPath(issue) ?? "body";
    details.set(path, [...(details.get(path) ?? []), issue.message]);
  }
  return Object.fromEntries(details);
}
