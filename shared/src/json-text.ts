/** A JSON number kept as the text the client wrote, because a JS number cannot hold its value. */
export interface RawJsonNumber {
  readonly rawJSON: string;
}

/**
 * JSON.parse source text access and JSON.rawJSON (ES2026, in Node >= 21), which TypeScript's lib does not
 * declare yet. `context.source` is the raw text of a primitive value; JSON.stringify writes a raw JSON value
 * verbatim.
 */
interface JsonWithSourceText {
  parse(
    text: string,
    reviver: (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown,
  ): unknown;
  rawJSON(text: string): RawJsonNumber;
  isRawJSON(value: unknown): value is RawJsonNumber;
}
const json = JSON as JSON & JsonWithSourceText;

export const isRawJsonNumber = (value: unknown): value is RawJsonNumber => json.isRawJSON(value);

/** A number JSON.stringify writes as exactly this text; `text` must be a JSON number. */
export const rawJsonNumber = (text: string): RawJsonNumber => json.rawJSON(text);

/** A decimal number's parts as written: `-12.50e3` is negative, integer "12", fraction "50", exponent 3. */
export interface DecimalText {
  negative: boolean;
  integer: string;
  fraction: string;
  /** NaN never; an exponent too long for a double becomes ±Infinity or a rounded value, both far out of range. */
  exponent: number;
  /** integer + fraction, and the index in it of the first digit that is not 0 (-1 for a zero). */
  digits: string;
  firstSignificant: number;
  /** How many digits the value has before the decimal point (0 or less below 1); 1 for a zero. */
  integerDigits: number;
}

export function decimalText(text: string): DecimalText {
  const negative = text.charCodeAt(0) === 0x2d; /* - */
  let end = text.indexOf("e");
  if (end < 0) end = text.indexOf("E");
  const mantissa = text.slice(negative ? 1 : 0, end < 0 ? text.length : end);
  const dot = mantissa.indexOf(".");
  const integer = dot < 0 ? mantissa : mantissa.slice(0, dot);
  const fraction = dot < 0 ? "" : mantissa.slice(dot + 1);
  const exponent = end < 0 ? 0 : Number(text.slice(end + 1));
  const digits = integer + fraction;
  let first = 0;
  while (first < digits.length && digits.charCodeAt(first) === 0x30 /* 0 */) first++;
  const firstSignificant = first === digits.length ? -1 : first;
  const integerDigits = firstSignificant < 0 ? 1 : integer.length - firstSignificant + exponent;
  return { negative, integer, fraction, exponent, digits, firstSignificant, integerDigits };
}

/**
 * How many characters PostgreSQL prints for this number: numeric is printed in plain notation, so `1e131000`
 * (8 characters as sent) reads back as 131,001 digits. The size rule counts this, not the text as sent.
 */
export function storedNumericLength(text: string): number {
  const { negative, fraction, exponent, integerDigits } = decimalText(text);
  const scale = Math.max(0, fraction.length - exponent);
  // A value below 1 is printed with a single 0 before the point.
  return (negative ? 1 : 0) + Math.max(1, integerDigits) + (scale > 0 ? 1 + scale : 0);
}

/**
 * The value of a decimal, whatever way it is written: significant digits and the power of ten of the first one
 * (`1.50e3`, `1500` and `15E2` all give "15e3"); "0" for every zero, since a stored number has no sign of zero.
 */
function decimalValue(text: string): string {
  const { negative, digits, firstSignificant, integerDigits } = decimalText(text);
  if (firstSignificant < 0) return "0";
  let last = digits.length;
  while (digits.charCodeAt(last - 1) === 0x30) last--;
  return `${negative ? "-" : ""}${digits.slice(firstSignificant, last)}e${integerDigits - 1}`;
}

/** Whether `value` (what JSON.parse made of `source`) is the number `source` means, so JSON.stringify keeps it. */
function holdsExactly(source: string, value: number): boolean {
  if (!Number.isFinite(value)) return false;
  const printed = String(value);
  return printed === source || decimalValue(printed) === decimalValue(source);
}

function keepExactNumbers(_key: string, value: unknown, context: { source?: string }): unknown {
  if (typeof value !== "number" || context.source === undefined) return value;
  return holdsExactly(context.source, value) ? value : json.rawJSON(context.source);
}

/**
 * Whether some number of the text has 16 or more digits or an exponent: only such a number can be one a
 * double does not hold exactly, since every decimal of at most 15 significant digits round-trips through one.
 * Skips strings with indexOf, so ids and timestamps cost nothing and their digits never count; a text that is
 * not JSON gets any answer, JSON.parse throws on it either way.
 */
function mayHoldInexactNumber(text: string): boolean {
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const char = text.charCodeAt(i);
    if (char === 0x22 /* " */) {
      const end = closingQuote(text, i);
      if (end < 0) return false;
      i = end;
    } else if (char >= 0x30 && char <= 0x39) {
      let digits = 0;
      for (; i < length; i++) {
        const next = text.charCodeAt(i);
        if (next >= 0x30 && next <= 0x39) digits++;
        else if (next === 0x65 /* e */ || next === 0x45 /* E */) return true;
        else if (next !== 0x2e /* . */) break;
      }
      if (digits > 15) return true;
      i--;
    }
  }
  return false;
}

/** The index of the quote that ends the JSON string opening at `open`, or -1. */
export function closingQuote(text: string, open: number): number {
  let end = text.indexOf('"', open + 1);
  while (end > 0 && text.charCodeAt(end - 1) === 0x5c /* \ */) {
    let backslashes = 1;
    while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
    // An odd number of backslashes escapes the quote.
    if (backslashes % 2 === 0) break;
    end = text.indexOf('"', end + 1);
  }
  return end;
}

/**
 * Parses a JSON text received from a client or from the bus. Every number keeps its exact value: one a JS
 * number cannot hold (`1e400`, `12345678901234567890`, `1e-400`) becomes a raw JSON value of its source
 * text, which JSON.stringify writes back verbatim and PostgreSQL's jsonb keeps exactly.
 */
export function parseJsonText(text: string): unknown {
  if (!mayHoldInexactNumber(text)) return JSON.parse(text);
  return json.parse(text, keepExactNumbers);
}

/** The reviver path alone, whatever the text: parseJsonText must give the same; for tests and benchmarks. */
export function parseJsonTextWithReviver(text: string): unknown {
  return json.parse(text, keepExactNumbers);
}
