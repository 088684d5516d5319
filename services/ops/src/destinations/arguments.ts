import { ConfigError, destinationName, destinationSecretsKeyVar, parseEnv } from "@evpipe/shared";
import * as v from "valibot";
import { CliError, usageExit } from "../cli-error.ts";

/** The NAME argument, or the one-line reason it cannot name a destination (exit 2, before any connection). */
export function parseName(value: string | undefined, usage: string): string {
  if (value === undefined || value === "") throw new CliError(`usage: ${usage}`, usageExit);
  const parsed = v.safeParse(destinationName, value);
  if (!parsed.success) {
    throw new CliError(`destination name ${JSON.stringify(value)} ${parsed.issues[0].message}`, usageExit);
  }
  return parsed.output;
}

/** Exactly one positional NAME, for pause, resume and remove. */
export function singleName(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw new CliError(`usage: ${usage}`, usageExit);
  return parseName(positionals[0], usage);
}

/**
 * DESTINATION_SECRETS_KEY as the key it holds. A missing or malformed key is a ConfigError naming the variable
 * (never its value), reported like every other variable's: one line, exit 2.
 */
export function requireSecretsKey(text: string | undefined): Uint8Array {
  return parseEnv({ DESTINATION_SECRETS_KEY: destinationSecretsKeyVar }, { DESTINATION_SECRETS_KEY: text })
    .DESTINATION_SECRETS_KEY;
}

/** The key, or undefined when it is missing or malformed: for what works without it. */
export function optionalSecretsKey(text: string | undefined): Uint8Array | undefined {
  try {
    return requireSecretsKey(text);
  } catch (err) {
    if (err instanceof ConfigError) return undefined;
    throw err;
  }
}
