import type { Context } from "hono";
import type { RouterRoute } from "hono/types";
import type { GatewayEnv } from "./context.ts";
import { ApiError } from "./errors.ts";

interface RoutePattern {
  pattern: RegExp;
  methods: Set<string>;
}

function patternOf(path: string): RegExp {
  const source = path
    .split("/")
    .map((part) => (part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}$`);
}

/**
 * The error for a request no route answered: 405 with `Allow` when the path exists under other methods
 * (a client that sent GET to a POST route learns what to send), else 404. The table is built on first use,
 * from the routes the app really registered.
 */
export function routeMiss(routes: () => readonly RouterRoute[]) {
  let table: RoutePattern[] | undefined;
  const build = () => {
    const byPath = new Map<string, Set<string>>();
    for (const route of routes()) {
      if (route.method === "ALL") continue;
      const methods = byPath.get(route.path) ?? new Set<string>();
      methods.add(route.method);
      // Hono answers HEAD with the GET route.
      if (route.method === "GET") methods.add("HEAD");
      byPath.set(route.path, methods);
    }
    return [...byPath].map(([path, methods]) => ({ pattern: patternOf(path), methods }));
  };
  return (c: Context<GatewayEnv>): ApiError => {
    table ??= build();
    const allowed = new Set<string>();
    for (const { pattern, methods } of table) {
      if (pattern.test(c.req.path)) for (const method of methods) allowed.add(method);
    }
    if (allowed.size > 0) {
      const allow = [...allowed].sort().join(", ");
      return new ApiError("METHOD_NOT_ALLOWED", `${c.req.method} is not allowed on ${c.req.path}; use ${allow}.`, {
        headers: { Allow: allow },
      });
    }
    return new ApiError("NOT_FOUND", `No route for ${c.req.method} ${c.req.path}.`);
  };
}
