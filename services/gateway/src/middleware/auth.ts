import type { KeyRing, Scope } from "@evpipe/shared";
import { createMiddleware } from "hono/factory";
import type { GatewayEnv } from "../context.ts";
import { ApiError } from "../errors.ts";

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
export function requireScope(keys: KeyRing, scope: Scope) {
  return createMiddleware<GatewayEnv>(async (c, next) => {
    const auth = keys.authenticate(presentedKey((name) => c.req.header(name)));
    if (!auth.ok) {
      c.get("log").info({ authFailure: auth.reason }, "authentication failed");
      throw new ApiError("UNAUTHORIZED", "A valid API key is required (X-API-Key or Authorization: Bearer).", {
        headers: { "WWW-Authenticate": 'Bearer realm="evpipe"' },
      });
    }
    if (!auth.key.scopes.includes(scope)) {
      throw new ApiError("FORBIDDEN", `This API key lacks the "${scope}" scope.`);
    }
    c.set("apiKey", auth.key);
    await next();
  });
}
