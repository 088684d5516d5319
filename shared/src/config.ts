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
  return parseConfig(v.object(entries), env);
}

/**
 * Parses environment variables with a service's config schema: an object schema of the variables, usually
 * piped into the config object (see camelCased), so the config type is `v.InferOutput` of the schema.
 * An empty variable counts as unset. A failure names every bad variable and never echoes its value.
 */
export function parseConfig<TSchema extends v.GenericSchema>(
  schema: TSchema,
  env: Record<string, string | undefined>,
): v.InferOutput<TSchema> {
  const present: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value !== "") present[name] = value;
  }
  const result = v.safeParse(schema, present);
  if (result.success) return result.output;
  const problems = result.issues.map((issue) => `${v.getDotPath(issue) ?? "?"}: ${issue.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
}

/** A variable's name as a config field: `CamelCase<"PUBLISH_TIMEOUT_MS">` is `"publishTimeoutMs"`. */
export type CamelCase<TName extends string> = TName extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<CamelCase<Tail>>}`
  : Lowercase<TName>;

export type CamelCased<TEntries extends v.ObjectEntries> = {
  [TName in keyof TEntries & string as CamelCase<TName>]: v.InferOutput<TEntries[TName]>;
};

const camelCase = (name: string) => name.toLowerCase().replace(/_(.)/g, (_, next: string) => next.toUpperCase());

/**
 * The parsed values of the variables in `entries`, each under its camelCase name (PUBLISH_TIMEOUT_MS ->
 * publishTimeoutMs): a service's own variables become its config fields with no hand-kept mapping.
 */
export function camelCased<const TEntries extends v.ObjectEntries>(
  entries: TEntries,
  parsed: v.InferOutput<v.ObjectSchema<TEntries, undefined>>,
): CamelCased<TEntries> {
  const values: Record<string, unknown> = parsed;
  // Object.fromEntries cannot type renamed keys; camelCase above is CamelCase at run time.
  return Object.fromEntries(
    Object.keys(entries).map((name) => [camelCase(name), values[name]]),
  ) as CamelCased<TEntries>;
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

const natsSchemes = ["nats:", "tls:", "ws:", "wss:"];

/**
 * NATS_URL: one server, or a comma-separated list of a cluster's seed servers
 * (`nats://a:4222,nats://b:4222`): a service started while one of them is down connects to another.
 */
export const natsUrlVar = v.optional(
  v.pipe(
    v.string(),
    v.check(
      (value) =>
        value.split(",").every((server) => {
          const url = URL.parse(server.trim());
          return url !== null && natsSchemes.includes(url.protocol);
        }),
      `must be a URL with scheme ${natsSchemes.join(" or ")}, or a comma-separated list of them`,
    ),
  ),
  "nats://127.0.0.1:4222",
);

/** The servers of NATS_URL, as nats.js takes them (it does not split a comma-separated string itself). */
export const natsServers = (natsUrl: string): string[] => natsUrl.split(",").map((server) => server.trim());
export const databaseUrlVar = urlVar("postgres://postgres@127.0.0.1:5432/events", ["postgres:", "postgresql:"]);

/** A yes/no variable, written `true` or `false`. */
export function booleanVar(fallback: boolean) {
  return v.optional(
    v.pipe(
      v.picklist(["true", "false"], "must be true or false"),
      v.transform((value) => value === "true"),
    ),
    String(fallback) as "true" | "false",
  );
}
