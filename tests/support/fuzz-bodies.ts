import { defaultEventLimits, rawJsonNumber, storedNumericLength } from "@evpipe/shared";
import fc from "fast-check";

// What tests/ingest.fuzz.test.ts sends: bodies that are mostly valid, each field wrong some of the time,
// numbers at the edges of what JS and PostgreSQL hold, batches up to the limit and bodies over the size limit.

const storableNumbers = [
  "1e400",
  "-1e400",
  "12345678901234567890",
  "1e-400",
  "9007199254740993",
  "0.1000000000000000055511151231257827",
  "12345678901234567890.12345678901234567890",
  "1e131071",
  "-9.999e131071",
  "1e-16383",
  "123.45e-16381",
  "1.8e308",
  "2e-324",
];
const unstorableNumbers = ["1e131072", "-1e131072", "1e-16384", "1.5e-16383", "1e999999999999999999999"];

const digits = fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n });
/** Numbers written as text: some any JS number holds, some it cannot, some beyond PostgreSQL's numeric. */
const edgeNumber = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...storableNumbers).map(rawJsonNumber) },
  { weight: 1, arbitrary: fc.constantFrom(...unstorableNumbers).map(rawJsonNumber) },
  { weight: 2, arbitrary: fc.double() },
  { weight: 2, arbitrary: digits.map((n) => rawJsonNumber(n.toString())) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        digits,
        fc.oneof(
          fc.integer({ min: -16_400, max: -16_370 }),
          fc.integer({ min: 131_040, max: 131_080 }),
          fc.integer({ min: -400, max: 400 }),
        ),
      )
      .map(([mantissa, exponent]) => rawJsonNumber(`${mantissa}e${exponent}`)),
  },
);
const metadataValue = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: edgeNumber },
  { weight: 1, arbitrary: fc.array(edgeNumber, { maxLength: 3 }) },
);
const validMetadata = fc.dictionary(fc.string({ maxLength: 10 }), metadataValue, { maxKeys: 4 });

const nearText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 130 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("", "\u0000", "a\u0007b", "\u0085", "\ud800", "x".repeat(129), "😀".repeat(128)),
  },
  { weight: 1, arbitrary: fc.jsonValue() },
  { weight: 1, arbitrary: edgeNumber },
);
const nearTimestamp = fc.oneof(
  fc
    .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("2099-12-31T00:00:00Z"), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc.constantFrom(
    "2026-11-23T10:00:00",
    "2026-02-30T00:00:00Z",
    "2026-11-23T10:00:00+25:00",
    "0000-01-01T00:00:00Z",
    "2026-11-23 10:00:00Z",
    "2026-11-20T10:00:00.123456+05:30",
  ),
  fc.string({ maxLength: 30 }),
  fc.integer(),
);
const nearMetadata = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 5 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 14 }) },
  {
    weight: 1,
    arbitrary: fc.dictionary(fc.string({ unit: "binary", maxLength: 6 }), fc.string({ unit: "binary", maxLength: 20 })),
  },
  { weight: 1, arbitrary: edgeNumber },
);
// "fresh" becomes a new unique UUID when the case runs ("FRESH" an upper-cased one), so a rejected event's id
// can be looked for later and no two accepted events share an id.
const nearId = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 7, arbitrary: fc.constant("fresh") },
  { weight: 1, arbitrary: fc.constant("FRESH") },
  { weight: 1, arbitrary: fc.oneof(fc.string(), fc.integer(), fc.constant("0192e4c2-7f1a-7000-8000-00000000000g")) },
);
const validText = fc.string({ minLength: 1, maxLength: 30 });
const validTimestamp = fc
  // A fixed past bound, not the clock, so a seed always generates the same cases.
  .date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2026-01-01T00:00:00Z"), noInvalidDate: true })
  .map((d) => d.toISOString());
const absentOr = <T>(valid: fc.Arbitrary<T>, near: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: valid },
    { weight: 1, arbitrary: near },
  );
const withoutAbsent = (event: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(event).filter(([, value]) => value !== undefined));

const nearEvent = fc
  .record({
    id: nearId,
    event: fc.oneof({ weight: 8, arbitrary: validText }, { weight: 2, arbitrary: nearText }),
    user_id: fc.oneof({ weight: 8, arbitrary: validText }, { weight: 2, arbitrary: nearText }),
    client_ts: absentOr(validTimestamp, nearTimestamp),
    metadata: absentOr(validMetadata, nearMetadata),
    surprise: fc.oneof({ weight: 19, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.jsonValue() }),
  })
  .map(withoutAbsent);
/** Of those, the ones PostgreSQL prints back short enough for the 16 KiB metadata limit (1e131071 is not). */
const compactNumbers = storableNumbers.filter((text) => storedNumericLength(text) < 1000);

/** Numbers that JS holds exactly, or only PostgreSQL does, none beyond numeric's limits, all of them compact. */
const storableNumber = fc.oneof(
  fc.constantFrom(...compactNumbers).map(rawJsonNumber),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  digits.map((n) => rawJsonNumber(n.toString())),
  fc
    .tuple(digits, fc.integer({ min: -400, max: 400 }))
    .map(([mantissa, exponent]) => rawJsonNumber(`${mantissa}e${exponent}`)),
);
const smallValue = fc.oneof(storableNumber, fc.string({ maxLength: 20 }), fc.integer(), fc.boolean());
/**
 * Small valid events, so 1000 of them stay one JetStream message (the publisher splits an envelope beyond
 * 1 MB) and a large batch is mostly accepted.
 */
const plainEvent = fc
  .record({
    id: fc.constantFrom(undefined, "fresh"),
    event: validText,
    user_id: validText,
    client_ts: fc.option(validTimestamp, { nil: undefined }),
    metadata: fc.option(fc.dictionary(fc.string({ maxLength: 6 }), smallValue, { maxKeys: 3 }), { nil: undefined }),
  })
  .map(withoutAbsent);
/** 100 to 1000 valid events; now and then one with a number PostgreSQL cannot store, or one event too many. */
const largeBatch = fc
  .tuple(
    fc
      .oneof(
        { weight: 1, arbitrary: fc.constant(defaultEventLimits.maxBatchEvents) },
        { weight: 3, arbitrary: fc.integer({ min: 100, max: defaultEventLimits.maxBatchEvents }) },
      )
      .chain((length) => fc.array(plainEvent, { minLength: length, maxLength: length })),
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom(...unstorableNumbers) },
      { weight: 1, arbitrary: fc.constant("one too many") },
    ),
    fc.nat(),
  )
  .map(([events, spoiler, at]) => {
    if (spoiler === undefined) return events;
    if (spoiler === "one too many") {
      const extra = defaultEventLimits.maxBatchEvents + 1 - events.length;
      return [...events, ...Array.from({ length: extra }, (_, i) => ({ event: "extra", user_id: `u${i}` }))];
    }
    const spoilt = [...events];
    spoilt[at % events.length] = { ...events[at % events.length], metadata: { n: rawJsonNumber(spoiler) } };
    return spoilt;
  });

export type FuzzBody =
  | { path: string; json: unknown }
  | { path: string; raw: Uint8Array }
  | { path: string; oversizedBy: number };

const anyPath = fc.constantFrom("/v1/events", "/v1/events/batch");
/** Weights out of 99: the rare kinds are large (a large batch is up to 1000 events, an oversized body 1 MiB). */
export const fuzzBody: fc.Arbitrary<FuzzBody> = fc.oneof(
  { weight: 45, arbitrary: fc.record({ path: fc.constant("/v1/events"), json: nearEvent }) },
  {
    weight: 36,
    arbitrary: fc.record({
      path: fc.constant("/v1/events/batch"),
      json: fc.record({ events: fc.array(nearEvent, { maxLength: 5 }) }),
    }),
  },
  { weight: 8, arbitrary: fc.record({ path: anyPath, json: fc.jsonValue() }) },
  { weight: 8, arbitrary: fc.record({ path: anyPath, raw: fc.uint8Array({ maxLength: 200 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      path: fc.constant("/v1/events/batch"),
      json: fc.record({ events: largeBatch }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ path: anyPath, oversizedBy: fc.integer({ min: 1, max: 64 * 1024 }) }) },
);

export const fuzzContentType = fc.oneof(
  { weight: 19, arbitrary: fc.constant("application/json") },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "text/plain",
      "application/x-www-form-urlencoded",
      "",
    ),
  },
);

/** Sizes of the pieces of a chunked body; null sends it whole with Content-Length. */
export const fuzzChunking = fc.option(fc.array(fc.integer({ min: 1, max: 8192 }), { minLength: 1, maxLength: 8 }));

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A body ready to send, and each event of it as sent (anything, for the ones that are not objects). */
export interface Materialized {
  payload: string | Uint8Array;
  sent: unknown[];
  /** The ids given to "fresh" events, lower-cased: none of them may be stored unless the answer is 2xx. */
  assigned: string[];
}

/** Gives "fresh" events their ids and writes the body; raw JSON numbers go out exactly as their text. */
export function materialize(body: FuzzBody, freshId: () => string): Materialized {
  const assigned: string[] = [];
  const withId = (event: unknown) => {
    if (!isObject(event) || (event.id !== "fresh" && event.id !== "FRESH")) return event;
    const id = freshId();
    assigned.push(id);
    return { ...event, id: event.id === "FRESH" ? id.toUpperCase() : id };
  };
  if ("raw" in body) return { payload: body.raw, sent: [], assigned };
  if ("oversizedBy" in body) {
    const id = freshId();
    const head = `{"events":[{"id":"${id}","event":"big","user_id":"u","metadata":{"p":"`;
    const tail = '"}}]}';
    const padding = defaultEventLimits.maxBodyBytes + body.oversizedBy - head.length - tail.length;
    return { payload: head + "p".repeat(padding) + tail, sent: [], assigned: [id] };
  }
  const json = body.json;
  if (body.path === "/v1/events" && isObject(json)) {
    const event = withId(json);
    return { payload: JSON.stringify(event), sent: [event], assigned };
  }
  if (isObject(json) && Array.isArray(json.events)) {
    const events = json.events.map(withId);
    return { payload: JSON.stringify({ ...json, events }), sent: events, assigned };
  }
  return { payload: JSON.stringify(json ?? null), sent: [], assigned };
}

/** Cases every run includes whatever the seed: the body of the bug report, a full batch, an oversized body. */
export const fuzzExamples: FuzzBody[] = [
  {
    path: "/v1/events",
    json: {
      event: "num",
      user_id: "u1",
      metadata: {
        inf: rawJsonNumber("1e400"),
        big: rawJsonNumber("12345678901234567890"),
        small: rawJsonNumber("1e-400"),
      },
    },
  },
  {
    path: "/v1/events/batch",
    json: {
      events: Array.from({ length: defaultEventLimits.maxBatchEvents }, (_, i) => ({
        id: "fresh",
        event: `full-${i % 7}`,
        user_id: `user-${i % 13}`,
        metadata: { n: rawJsonNumber(compactNumbers[i % compactNumbers.length] as string), i },
      })),
    },
  },
  { path: "/v1/events/batch", oversizedBy: 1 },
];
