import * as v from "valibot";
import { wholeNumberText } from "./parse.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Parses environment variables with one valibot schema whose keys are the variable names.
 * A failure names every bad variable and never echoes its value (it may be a secret).
 */
export function parseEnv<const TEntries extends v.ObjectEntries>(
  entries: TEntries,
  env: Record<string, string | undefined>,
): v.InferOutput<v.ObjectSchema<TEntries, undefined>> {
  const present: Record<string, string> = {};
  for (const name of Object.keys(entries)) {
    const value = env[name];
    if (value !== undefined && value !== "") present[name] = value;
  }
  const result = v.safeParse(v.object(entries), present);
  if (result.success) return result.output;
  const problems = result.issues.map((issue) => `${v.getDotPath(issue) ?? "?"}: ${issue.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
}

/** A service's configuration, or exit 1 with the problem on stderr: the variable's name, never its value. */
export function loadConfigOrExit<T>(service: string, load: (env: Record<string, string | undefined>) => T): T {
  try {
    return load(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${service}: ${err.message}\n`);
    process.exit(1);
  }
}

export function integerVar(fallback: number, min: number, max: number) {
  return v.optional(wholeNumberText(min, max), String(fallback));
}

export function urlVar(fallback: string, protocols: readonly string[]) {
  return v.optional(
    v.pipe(
      v.string(),
      v.check(
        (value) => {
          try {
            return protocols.includes(new URL(value).protocol);
          } catch {
            return false;
          }
        },
        `must be a URL with scheme ${protocols.join(" or ")}`,
      ),
    ),
    fallback,
  );
}

export const logLevelVar = v.optional(
  v.picklist(
    ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
    "must be one of fatal, error, warn, info, debug, trace, silent",
  ),
  "info",
);

/** Prefix for every stream, subject, consumer and bucket name, so test runs never meet a running system. */
export const namespaceVar = v.optional(
  v.pipe(v.string(), v.regex(/^[a-z0-9_-]{1,32}$/, "must be 1 to 32 of [a-z0-9_-]")),
);

export const natsUrlVar = urlVar("nats://127.0.0.1:4222", ["nats:", "tls:", "ws:", "wss:"]);
export const databaseUrlVar = urlVar("postgres://postgres@127.0.0.1:5432/events", ["postgres:", "postgresql:"]);
