import type { Logger } from "@evpipe/shared";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { GatewayEnv } from "../context.ts";
import { uuidv7 } from "../ids.ts";

const wellFormedRequestId = /^[A-Za-z0-9._-]{1,128}$/;
// Asked every few seconds by orchestrators and Prometheus: logged at debug when they succeed, so they do not
// bury the requests of producers and analysts.
const probePaths = new Set(["/healthz", "/readyz", "/metrics"]);

/** Told of every answered request, with the seconds it took (the request metrics). */
export type RequestObserver = (c: Context<GatewayEnv>, seconds: number) => void;

/**
 * Takes the caller's X-Request-Id when well-formed (else makes one), returns it on every response, and logs
 * one summary line per request.
 */
export function requestContext(log: Logger, observe?: RequestObserver) {
  return createMiddleware<GatewayEnv>(async (c, next) => {
    const started = performance.now();
    const offered = c.req.header("x-request-id");
    const requestId = offered && wellFormedRequestId.test(offered) ? offered : uuidv7();
    const requestLog = log.child({ requestId });
    c.set("requestId", requestId);
    c.set("log", requestLog);
    await next();
    c.res.headers.set("X-Request-Id", requestId);
    const status = c.res.status;
    const durationMs = performance.now() - started;
    observe?.(c, durationMs / 1000);
    const line = {
      method: c.req.method,
      path: c.req.path,
      status,
      durationMs: Math.round(durationMs * 100) / 100,
      keyId: c.get("apiKey")?.id,
      unreadBody: c.get("unreadBody"),
      rejectedMessages: c.get("rejectedMessages"),
      firstRejection: c.get("firstRejection"),
    };
    if (status >= 500) requestLog.error(line, "request failed");
    else if (probePaths.has(c.req.path) && status < 400) requestLog.debug(line, "request");
    else requestLog.info(line, "request");
  });
}
