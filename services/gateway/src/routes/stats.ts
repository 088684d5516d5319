import { Hono } from "hono";
import * as v from "valibot";
import type { GatewayEnv } from "../context.ts";
import { type AuthDeps, requireScope } from "../middleware/auth.ts";
import type { StatsQueries } from "../reads.ts";
import { checkRange, integerParam, parseQuery, rangeQuery } from "./read-params.ts";

export const dauResponse = v.object({
  from: v.string(),
  to: v.string(),
  days: v.array(v.object({ day: v.string(), users: v.number() })),
});
export const topEventsResponse = v.object({
  from: v.string(),
  to: v.string(),
  events: v.array(v.object({ event: v.string(), count: v.number(), users: v.number() })),
});
export const retentionResponse = v.object({
  from: v.string(),
  to: v.string(),
  days: v.number(),
  cohorts: v.array(v.object({ cohort: v.string(), users: v.number(), retained: v.array(v.number()) })),
});

const dauQuery = rangeQuery({});
const topEventsQuery = rangeQuery({ limit: integerParam(10, 1, 100) });
const retentionQuery = rangeQuery({ days: integerParam(7, 1, 90) });

export interface StatsDeps extends AuthDeps {
  stats: StatsQueries;
}

export function statsRoutes(deps: StatsDeps) {
  return new Hono<GatewayEnv>()
    .use(requireScope(deps, "read"))
    .get("/dau", async (c) => {
      const { from, to } = parseQuery(dauQuery, c.req.query());
      checkRange(from, to);
      const body: v.InferOutput<typeof dauResponse> = { from, to, days: await deps.stats.dailyActiveUsers(from, to) };
      return c.json(body);
    })
    .get("/top-events", async (c) => {
      const { from, to, limit } = parseQuery(topEventsQuery, c.req.query());
      checkRange(from, to);
      const body: v.InferOutput<typeof topEventsResponse> = {
        from,
        to,
        events: await deps.stats.topEvents(from, to, limit),
      };
      return c.json(body);
    })
    .get("/retention", async (c) => {
      const { from, to, days } = parseQuery(retentionQuery, c.req.query());
      checkRange(from, to);
      const body: v.InferOutput<typeof retentionResponse> = {
        from,
        to,
        days,
        cohorts: await deps.stats.retention(from, to, days),
      };
      return c.json(body);
    });
}
