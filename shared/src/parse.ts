import * as v from "valibot";
import { parseRfc3339 } from "./event.ts";

/** Whether a value is a real UTC calendar day written as YYYY-MM-DD (2026-02-30 is not). */
export function isUtcDay(value: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(parseRfc3339(`${value}T00:00:00Z`));
}

/** A whole number written in plain digits within [min, max], or undefined. */
export function parseWholeNumber(value: string, min: number, max: number): number | undefined {
  if (!/^\d{1,16}$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/** A valibot schema for a whole number written as text (an environment variable, a query parameter). */
export function wholeNumberText(min: number, max: number) {
  const rule = `must be a whole number from ${min} to ${max}`;
  return v.pipe(
    v.string(rule),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const n = parseWholeNumber(dataset.value, min, max);
      if (n !== undefined) return n;
      addIssue({ message: rule });
      return NEVER;
    }),
  );
}
