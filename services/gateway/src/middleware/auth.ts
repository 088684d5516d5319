import type { KeyRing, KeyUsage, Scope } from "@evpipe/shared";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { GatewayEnv } from "../context.ts";
import { ApiError } from "../errors.ts";
import type { RateLimiter } from "../rate-limit.ts";

type Header = (name: string) => string | undefined;

/** The key of X-API-Key or Authorization: Bearer, our own API's two ways. */
export function presentedKey(header: Header): string | undefined {
  const apiKey = header("x-api-key");
  if (apiKey) return apiKey;
  const authorization = header("authorization");
  if (authorization?.toLowerCase().startsWith("bearer ")) return authorization.slice(7).trim();
  return undefined;
}

/** The user name of `Authorization: Basic base64(<key>:)`, as the Segment and RudderStack SDKs send the key. */
export function basicAuthUser(authorization: string | undefined): string | undefined {
  if (!authorization?.toLowerCase().startsWith("basic ")) return undefined;
  const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  // Without a colon, the whole value is the key: some hand-written clients send base64(<key>).
  return (colon < 0 ? decoded : decoded.slice(0, colon)) || undefined;
}

// Query parameters producers have been seen to put keys in.
const keyParameters = ["api_key", "apikey", "key", "x-api-key", "token", "access_token"];

export interface AuthDeps {
  keys: KeyRing;
  limiter: RateLimiter;
  usage: KeyUsage;
  now: () => number;
}

/** How a route asks for its key: the 401's challenge and message. */
export interface KeyChallenge {
  wwwAuthenticate: string;
  message: string;
}

const bearerChallenge: KeyChallenge = {
  wwwAuthenticate: 'Bearer realm="evpipe"',
  message: "A valid API key is required (X-API-Key or Authorization: Bearer).",
};

/** A key in the URL ends up in proxy and access logs: refused even when a header carries a valid one. */
export function refuseKeyInUrl(c: Context<GatewayEnv>, challenge: KeyChallenge): void {
  const query = c.req.query();
  if (keyParameters.some((name) => name in query) || Object.values(query).some((value) => value.startsWith("evp_"))) {
    throw new ApiError(
      "UNAUTHORIZED",
      "API keys are not accepted in the URL; send X-API-Key or Authorization: Bearer.",
      {
        headers: { "WWW-Authenticate": challenge.wwwAuthenticate },
      },
    );
  }
}

/**
 * Lets the request through with the presented key, or throws: one answer for a missing, unknown, malformed or
 * revoked key, so a caller learns nothing about which keys exist (the reason goes to the log only); 403 for a
 * key without the scope; 429 when the key's rate is spent.
 */
export function admitKey(
  c: Context<GatewayEnv>,
  deps: AuthDeps,
  presented: string | undefined,
  scope: Scope,
  challenge: KeyChallenge,
): void {
  const auth = deps.keys.authenticate(presented);
  if (!auth.ok) {
    c.get("log").info({ authFailure: auth.reason }, "authentication failed");
    throw new ApiError("UNAUTHORIZED", challenge.message, {
      headers: { "WWW-Authenticate": challenge.wwwAuthenticate },
    });
  }
  // Set before the scope check, so the request's log line names the key a 403 was given to.
  c.set("apiKey", auth.key);
  if (!auth.key.scopes.includes(scope)) {
    throw new ApiError("FORBIDDEN", `This API key lacks the "${scope}" scope.`);
  }
  const now = deps.now();
  deps.usage.touch(auth.key.id, now);
  const waitMs = deps.limiter.take(auth.key);
  if (waitMs > 0) {
    throw new ApiError("RATE_LIMITED", "This API key's request rate is exceeded; retry after the given seconds.", {
      headers: {
        "Retry-After": String(Math.max(1, Math.ceil(waitMs / 1000))),
        // Epoch milliseconds, as Segment's API sends it and analytics-node before 3.1 reads it.
        "X-RateLimit-Reset": String(now + waitMs),
      },
    });
  }
}

export function requireScope(deps: AuthDeps, scope: Scope) {
  return createMiddleware<GatewayEnv>(async (c, next) => {
    refuseKeyInUrl(c, bearerChallenge);
    admitKey(
      c,
      deps,
      presentedKey((name) => c.req.header(name)),
      scope,
      bearerChallenge,
    );
    await next();
  });
}
