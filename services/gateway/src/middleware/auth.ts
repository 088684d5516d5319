import type { KeyRing, KeyUsage, Scope } from "@evpipe/shared";
import { createMiddleware } from "hono/factory";
import type { GatewayEnv } from "../context.ts";
import { ApiError } from "../errors.ts";
import type { RateLimiter } from "../rate-limit.ts";

function presentedKey(header: (name: string) => string | undefined): string | undefined {
  const apiKey = header("x-api-key");
  if (apiKey) return apiKey;
  const authorization = header("authorization");
  if (authorization?.toLowerCase().startsWith("bearer ")) return authorization.slice(7).trim();
  return undefined;
}

/**
 * One answer for a missing, unknown, malformed or revoked key, so a caller learns nothing about which keys
 * exist; the reason goes to the log only.
 */
// Query parameters producers have been seen to put keys in.
const keyParameters = ["api_key", "apikey", "key", "x-api-key", "token", "access_token"];

export interface AuthDeps {
  keys: KeyRing;
  limiter: RateLimiter;
  usage: KeyUsage;
  now: () => number;
}

export function requireScope(deps: AuthDeps, scope: Scope) {
  return createMiddleware<GatewayEnv>(async (c, next) => {
    // A key in the URL ends up in proxy and access logs: refuse it even when a header carries a valid one.
    const query = c.req.query();
    if (keyParameters.some((name) => name in query) || Object.values(query).some((value) => value.startsWith("evp_"))) {
      throw new ApiError(
        "UNAUTHORIZED",
        "API keys are not accepted in the URL; send X-API-Key or Authorization: Bearer.",
        {
          headers: { "WWW-Authenticate": 'Bearer realm="evpipe"' },
        },
      );
    }
    const auth = deps.keys.authenticate(presentedKey((name) => c.req.header(name)));
    if (!auth.ok) {
      c.get("log").info({ authFailure: auth.reason }, "authentication failed");
      throw new ApiError("UNAUTHORIZED", "A valid API key is required (X-API-Key or Authorization: Bearer).", {
        headers: { "WWW-Authenticate": 'Bearer realm="evpipe"' },
      });
    }
    // Set before the scope check, so the request's log line names the key a 403 was given to.
    c.set("apiKey", auth.key);
    if (!auth.key.scopes.includes(scope)) {
      throw new ApiError("FORBIDDEN", `This API key lacks the "${scope}" scope.`);
    }
    deps.usage.touch(auth.key.id, deps.now());
    const waitMs = deps.limiter.take(auth.key);
    if (waitMs > 0) {
      throw new ApiError("RATE_LIMITED", "This API key's request rate is exceeded; retry after the given seconds.", {
        headers: { "Retry-After": String(Math.max(1, Math.ceil(waitMs / 1000))) },
      });
    }
    await next();
  });
}
