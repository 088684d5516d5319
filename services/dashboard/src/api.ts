import { errorResponse } from "@evpipe/shared/api-responses";
import * as v from "valibot";

/** Why a request gave no usable answer, worded for the person looking at the page. */
export interface Problem {
  kind: "unauthorized" | "forbidden" | "not-found" | "busy" | "unreachable" | "unexpected";
  message: string;
  /** What a busy gateway's Retry-After asked for, when it said. */
  retryAfterMs?: number;
}

export type Answer<T> = { ok: true; value: T } | { ok: false; problem: Problem };

export const unreachable: Problem = {
  kind: "unreachable",
  message: "Cannot reach the gateway: check that it is running, then try again.",
};

/** Longer than any read route should take: past it, the panel says so instead of waiting on a stuck request. */
export const requestTimeoutMs = 10_000;

export const tooSlow: Problem = {
  kind: "unreachable",
  message: `The gateway did not answer within ${requestTimeoutMs / 1000} s: it is unreachable or overloaded.`,
};

/** Retry-After in seconds or as an HTTP date (RFC 9110), in milliseconds from `now`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** How long to wait before asking again: Retry-After when the gateway gave one, kept between the bounds. */
export function retryDelayMs(problem: Problem, fallbackMs: number, bounds = { min: 1000, max: 30_000 }): number {
  return Math.min(bounds.max, Math.max(bounds.min, problem.retryAfterMs ?? fallbackMs));
}

/** What an error status means here; the envelope's own message is quoted where it helps. */
export function problemOf(status: number, body: unknown, retryAfter?: number): Problem {
  const parsed = v.safeParse(errorResponse, body);
  const error = parsed.success ? parsed.output.error : undefined;
  const quoted = error ? `: ${error.message} (request ${error.request_id})` : "";
  switch (status) {
    case 401:
      return {
        kind: "unauthorized",
        message: "The gateway did not accept this API key: it is unknown or revoked. Check it and enter it again.",
      };
    case 403:
      return {
        kind: "forbidden",
        message: "This API key lacks the read scope. Use a key made with `pnpm ops keys create --scopes read`.",
      };
    case 404:
      return { kind: "not-found", message: error?.message ?? "Not found." };
    case 429:
    case 503:
      // Whether and when it is asked again is the panel's to say.
      return {
        kind: "busy",
        message: `The gateway cannot answer right now${quoted}.`,
        ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
      };
    default:
      return { kind: "unexpected", message: `The gateway answered ${status}${quoted}.` };
  }
}

/** A body that does not match the schema is an error as a whole: the page never shows half of it. */
export function parseAnswer<TSchema extends v.GenericSchema>(
  path: string,
  schema: TSchema,
  body: unknown,
): Answer<v.InferOutput<TSchema>> {
  const parsed = v.safeParse(schema, body);
  if (parsed.success) return { ok: true, value: parsed.output };
  const [issue] = parsed.issues;
  const where = v.getDotPath(issue) ?? "body";
  return {
    ok: false,
    problem: {
      kind: "unexpected",
      message: `The gateway's answer to ${path} is not what this page expects (${where}: ${issue.message}). Reload the page; if it persists, the page and the gateway are of different versions.`,
    },
  };
}

/** GETs one of the gateway's read routes with the key and checks the answer against the API's own schema. */
export async function getJson<TSchema extends v.GenericSchema>(
  key: string,
  path: string,
  schema: TSchema,
): Promise<Answer<v.InferOutput<TSchema>>> {
  // One deadline for the headers and the body alike: a request that stalls midway is as stuck as one never answered.
  const signal = AbortSignal.timeout(requestTimeoutMs);
  const timedOut = () => signal.aborted;
  let response: Response;
  try {
    response = await fetch(path, {
      headers: { "X-API-Key": key, Accept: "application/json" },
      cache: "no-store",
      signal,
    });
  } catch {
    return { ok: false, problem: timedOut() ? tooSlow : unreachable };
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    if (timedOut()) return { ok: false, problem: tooSlow };
    body = undefined;
  }
  if (!response.ok) {
    const retryAfter = retryAfterMs(response.headers.get("retry-after"), Date.now());
    return { ok: false, problem: problemOf(response.status, body, retryAfter) };
  }
  return parseAnswer(path, schema, body);
}

/** A problem with the key itself: every panel would show it, so the page says it once, by the key field. */
export const isKeyProblem = (problem: Problem): boolean =>
  problem.kind === "unauthorized" || problem.kind === "forbidden";
