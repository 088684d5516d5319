import { parseWholeNumber } from "@evpipe/shared";
import { CliError, usageExit } from "./cli-error.ts";

/** A `--option N` that must be a whole number above 0; `fallback` when the option is absent. */
export function positiveInteger(option: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = parseWholeNumber(value, 1, Number.MAX_SAFE_INTEGER);
  if (n === undefined) throw new CliError(`--${option} must be a whole number above 0`, usageExit);
  return n;
}
