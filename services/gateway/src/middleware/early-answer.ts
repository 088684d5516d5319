import type { IncomingMessage } from "node:http";
import { createMiddleware } from "hono/factory";
import type { GatewayEnv } from "../context.ts";

/** How much of an unread body the gateway discards before answering; beyond it, it closes anyway. */
export interface DrainBudget {
  maxBytes: number;
  maxMs: number;
}

/** What became of a body left unread by an early answer; the request's summary log line says it. */
export type UnreadBody = "discarded" | "over_budget" | "timed_out" | "aborted";

/**
 * An answer given before the whole request body arrived (401, 403, 415 or 429 before reading it, 413 part-way)
 * says `Connection: close` (PRODUCT.md §3), so a keep-alive client never sends its next request into a socket
 * that is about to close. Before answering, it discards what is left of the body within `budget`: closing a
 * socket with unread input makes the kernel send a reset, which can destroy the answer on its way. A body
 * beyond the budget is closed on anyway. Under app.request() there is no Node request and it does nothing.
 */
export function earlyAnswer(budget: DrainBudget) {
  return createMiddleware<GatewayEnv>(async (c, next) => {
    const incoming = c.env?.incoming;
    if (!incoming) return next();
    await next();
    // `complete`: the parser has taken the whole body off the socket (it may still sit unread in the stream,
    // which Node discards itself); the connection can then stay open.
    if (incoming.complete) return;
    c.res.headers.set("Connection", "close");
    c.set("unreadBody", await discardRest(incoming, budget));
  });
}

function discardRest(incoming: IncomingMessage, budget: DrainBudget): Promise<UnreadBody> {
  // A body announced beyond the budget (the 413 answered from Content-Length) is not worth waiting for.
  if (Number(incoming.headers["content-length"]) > budget.maxBytes) return Promise.resolve("over_budget");
  if (incoming.destroyed) return Promise.resolve("aborted");
  return new Promise((resolve) => {
    let bytes = 0;
    const settle = (outcome: UnreadBody) => {
      clearTimeout(timer);
      incoming.off("data", onData).off("end", onEnd).off("close", onClose).off("error", onClose);
      incoming.pause();
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > budget.maxBytes) settle("over_budget");
    };
    const onEnd = () => settle("discarded");
    const onClose = () => settle(incoming.complete ? "discarded" : "aborted");
    const timer = setTimeout(() => settle("timed_out"), budget.maxMs);
    incoming.on("data", onData).once("end", onEnd).once("close", onClose).once("error", onClose);
    incoming.resume();
  });
}
