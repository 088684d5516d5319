import { describe, expect, it, vi } from "vitest";
import { fitsPostgresNumeric } from "./event.ts";
import { closingQuote, isRawJsonNumber, parseJsonText, parseJsonTextWithReviver } from "./json-text.ts";

/** The exact value of a JSON number text as a fraction, with BigInt: independent of the code under test. */
function fraction(text: string): [bigint, bigint] {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) throw new Error(`not a JSON number: ${text}`);
  const [, sign, integer, decimals = "", exponent = "0"] = match;
  const power = Number(exponent) - decimals.length;
  const digits = BigInt(`${sign}${integer}${decimals}`);
  return power >= 0 ? [digits * 10n ** BigInt(power), 1n] : [digits, 10n ** BigInt(-power)];
}

function sameValue(a: string, b: string): boolean {
  const [an, ad] = fraction(a);
  const [bn, bd] = fraction(b);
  return an * bd === bn * ad;
}

describe("parseJsonText keeps every number exactly", () => {
  it.each([
    ["1e400", "1e400"],
    ["-1e400", "-1e400"],
    ["12345678901234567890", "12345678901234567890"],
    ["1e-400", "1e-400"],
    ["9007199254740993", "9007199254740993"],
    ["123456789.123456789", "123456789.123456789"],
    ["0.1000000000000000055511151231257827", "0.1000000000000000055511151231257827"],
    ["1.8e308", "1.8e308"],
    ["2e-324", "2e-324"],
    ["3e-324", "3e-324"],
    ["1.000000000000000000001", "1.000000000000000000001"],
  ])("keeps %s as the text sent", (text, written) => {
    const value = parseJsonText(text);
    expect(isRawJsonNumber(value)).toBe(true);
    expect(JSON.stringify(value)).toBe(written);
  });

  it.each([
    ["0.1", 0.1],
    ["-0", -0],
    ["1.0", 1],
    ["1E2", 100],
    ["1.5e3", 1500],
    ["9007199254740992", 9007199254740992],
    ["100000000000000000000", 1e20],
    ["1e21", 1e21],
    ["0.30000000000000004", 0.30000000000000004],
    ["1.7976931348623157e308", 1.7976931348623157e308],
    ["5e-324", 5e-324],
    ["0e-99999", 0],
    ["-12.50", -12.5],
  ])("keeps %s as a JS number, which holds it exactly", (text, number) => {
    const value = parseJsonText(text);
    expect(value).toBe(number);
    expect(sameValue(JSON.stringify(value), text)).toBe(true);
  });

  it("keeps raw numbers at any depth of objects and arrays", () => {
    const text = '{"a":[1,{"b":1e400,"c":[-12345678901234567890]}],"d":{"e":{"f":1e-400}},"g":0.5}';
    const value = parseJsonText(text) as { a: [number, { b: unknown; c: unknown[] }]; g: number };
    expect(isRawJsonNumber(value.a[1].b)).toBe(true);
    expect(isRawJsonNumber(value.a[1].c[0])).toBe(true);
    expect(value.a[0]).toBe(1);
    expect(value.g).toBe(0.5);
    expect(JSON.stringify(value)).toBe(text);
  });

  it("round-trips a huge array of numbers at the edges", () => {
    const numbers = Array.from({ length: 20_000 }, (_, i) =>
      i % 4 === 0 ? `${i + 1}e400` : i % 4 === 1 ? `1${"0".repeat(20)}${i}` : i % 4 === 2 ? `${i}.25` : `-${i}`,
    );
    const text = `[${numbers.join(",")}]`;
    const value = parseJsonText(text) as unknown[];
    expect(value.filter(isRawJsonNumber)).toHaveLength(10_000);
    expect(JSON.stringify(value)).toBe(text);
  });

  it("leaves strings with digits, exponents and escaped quotes untouched", () => {
    const text = JSON.stringify({
      id: "0192e4c2-7f1a-7000-8000-00000000e2e1",
      s: "12345678901234567890",
      t: "1e400",
      u: 'a"1e400\\',
      "1e400": ["2026-11-20T10:00:00.123456789+02:00", '\\"12345678901234567'],
      n: 42,
    });
    expect(parseJsonText(text)).toEqual(JSON.parse(text));
    expect(parseJsonTextWithReviver(text)).toEqual(JSON.parse(text));
  });

  it("throws a SyntaxError for text that is not JSON, on either path", () => {
    for (const text of ["", "{", '{"a":1e400', "[1e]", '"abc', "[01]", "1e400 x", "NaN", "[-]", "{'a':1}"]) {
      expect(() => parseJsonText(text), text).toThrow(SyntaxError);
      expect(() => parseJsonTextWithReviver(text), text).toThrow(SyntaxError);
    }
  });
});

/** A seeded generator (mulberry32), so failures reproduce. */
function random(seed: number) {
  let state = seed;
  return (below: number) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

function numberText(next: (below: number) => number): string {
  const digits = (count: number) => Array.from({ length: count }, () => next(10)).join("");
  const integer = next(4) === 0 ? "0" : `${1 + next(9)}${digits(next(25))}`;
  const decimals = next(2) === 0 ? "" : `.${digits(1 + next(25))}`;
  const exponent = next(3) === 0 ? `${next(2) ? "e" : "E"}${["", "+", "-"][next(3)]}${next(700)}` : "";
  return `${next(3) === 0 ? "-" : ""}${integer}${decimals}${exponent}`;
}

describe("the fast path and the reviver path", () => {
  it("give the same value for 20,000 random numbers, each equal to its text exactly", () => {
    const next = random(20261123);
    for (let i = 0; i < 20_000; i++) {
      const text = numberText(next);
      const fast = parseJsonText(`[${text}]`) as unknown[];
      const slow = parseJsonTextWithReviver(`[${text}]`) as unknown[];
      expect(isRawJsonNumber(fast[0]), text).toBe(isRawJsonNumber(slow[0]));
      expect(JSON.stringify(fast), text).toBe(JSON.stringify(slow));
      expect(sameValue(JSON.stringify(fast[0]), text), text).toBe(true);
    }
  });

  it("give the same document for random bodies of events", () => {
    const next = random(7);
    for (let body = 0; body < 200; body++) {
      const events = Array.from({ length: 1 + next(20) }, (_, i) => {
        const numbers = Array.from({ length: next(5) }, (_, k) => `"k${k}":${numberText(next)}`);
        const metadata = [...numbers, `"s":"${numberText(next)}"`, `"a":[${numberText(next)}]`].join(",");
        return `{"event":"e${i}","user_id":"u-${next(1e6)}","metadata":{${metadata}}}`;
      });
      const text = `{"events":[${events.join(",")}]}`;
      const fast = JSON.stringify(parseJsonText(text));
      expect(fast).toBe(JSON.stringify(parseJsonTextWithReviver(text)));
      // What the gateway publishes, the consumer parses back to the same document.
      expect(JSON.stringify(parseJsonText(fast))).toBe(fast);
    }
  });
});

describe("which path parseJsonText takes", () => {
  /** Whether parseJsonText called JSON.parse with a reviver. */
  function usedReviver(text: string): boolean {
    const parse = vi.spyOn(JSON, "parse");
    parseJsonText(text);
    const calls = parse.mock.calls;
    parse.mockRestore();
    expect(calls).toHaveLength(1);
    return (calls[0] as unknown[]).length > 1 && (calls[0] as unknown[])[1] !== undefined;
  }

  it.each([
    '{"id":"0192e4c2-7f1a-7000-8000-00000000e2e1","ts":"2026-11-20T10:00:00.123456789+02:00"}',
    '{"s":"12345678901234567890 1e400","k":"\\"99999999999999999"}',
    '{"n":[0.1,-0,1.0,123456789012345,12345678901234.5,-0.00000000000001,19.99]}',
    '{"a":true,"b":false,"c":null}',
  ])("the plain JSON.parse for %s", (text) => {
    expect(usedReviver(text)).toBe(false);
  });

  it.each(["[1e5]", "[1E2]", "[1234567890123456]", "[123456789012345.6]", '{"s":"x","n":-1.5e-3}', "1e400"])(
    "the reviver for %s",
    (text) => {
      expect(usedReviver(text)).toBe(true);
    },
  );
});

describe("closingQuote", () => {
  it.each([
    ['"abc"', 4],
    ['"a\\"b"', 5],
    ['"a\\\\"b', 4],
    ['"a\\\\\\"b"', 7],
    ['"abc', -1],
  ])("finds the end of %s at %i", (text, end) => {
    expect(closingQuote(text, 0)).toBe(end);
  });
});

describe("fitsPostgresNumeric (PostgreSQL 15's numeric, checked in tests/ingest.numbers.test.ts)", () => {
  it.each([
    "1e131071",
    "-9.9999e131071",
    "0.5e131072",
    "10e131070",
    "0.0000000001e131081",
    "1e-16383",
    "123.45e-16381",
    "1.0e-16382",
    "0e999999",
    "0e-16383",
    "12345678901234567890",
    "1e400",
    `1${"0".repeat(131_071)}`,
  ])("fits: %s", (text) => {
    expect(fitsPostgresNumeric(text)).toBe(true);
  });

  it.each([
    "1e131072",
    "-1e131072",
    "100e131070",
    "0.0000000001e131082",
    "1e-16384",
    "10e-16384",
    "1.5e-16383",
    "1.00e-16382",
    "0e-16384",
    "1e1073741823",
    "1e99999999999999999999999",
    "1e-99999999999999999999999",
    `1${"0".repeat(131_072)}`,
    `0.${"0".repeat(16_383)}1`,
  ])("does not fit: %s", (text) => {
    expect(fitsPostgresNumeric(text)).toBe(false);
  });
});
