import { dauResponse, retentionResponse, topEventsResponse } from "@evpipe/shared/api-responses";
import { Hono } from "hono";
import type * as v from "valibot";
import type { GatewayEnv } from "../context.ts";
import { type AuthDeps, requireScope } from "../middleware/auth.ts";
import { describeOperation, queryParameters, success } from "../openapi/describe.ts";
import type { StatsQueries } from "../reads.ts";
import { checkRange, integerParam, parseQuery, rangeQuery } from "./read-params.ts";

const dauQuery = rangeQuery({});
const topEventsQuery = rangeQuery({ limit: integerParam(10, 1, 100) });
const retentionQuery = rangeQuery({ days: integerParam(7, 1, 90) });

export interface StatsDeps extends AuthDeps {
  stats: StatsQueries;
}

const rangeRule = "`from` and `to` are UTC days, inclusive, at most 366 days apart.";
const statsErrors = ["VALIDATION_ERROR", "UNAVAILABLE"] as const;

const describeDau = describeOperation({
  tags: ["Stats"],
  summary: "Daily active users",
  description: `One row per UTC day of the range, zero-filled. ${rangeRule}`,
  scope: "read",
  parameters: queryParameters(dauQuery),
  responses: { 200: success("Distinct users per day.", dauResponse) },
  errors: statsErrors,
});

const describeTopEvents = describeOperation({
  tags: ["Stats"],
  summary: "Top events",
  description: `The most frequent event names with their counts and distinct users. ${rangeRule}`,
  scope: "read",
  parameters: queryParameters(topEventsQuery),
  responses: { 200: success("Event names, most frequent first.", topEventsResponse) },
  errors: statsErrors,
});

const describeRetention = describeOperation({
  tags: ["Stats"],
  summary: "Retention cohorts",
  description: `Cohorts by the UTC day a user was first seen, with how many were active on each following day. ${rangeRule}`,
  scope: "read",
  parameters: queryParameters(retentionQuery),
  responses: { 200: success("One cohort per first-seen day.", retentionResponse) },
  errors: statsErrors,
});

export function statsRoutes(deps: StatsDeps) {
  return new Hono<GatewayEnv>()
    .use(requireScope(deps, "read"))
    .get("/dau", describeDau, async (c) => {
      const { from, to } = parseQuery(dauQuery, c.req.query());
      checkRange(from, to);
      const body: v.InferOutput<typeof dauResponse> = { from, to, days: await deps.stats.dailyActiveUsers(from, to) };
      return c.json(body);
    })
    .get("/top-events", describeTopEvents, async (c) => {
      const { from, to, limit } = parseQuery(topEventsQuery, c.req.query());
      checkRange(from, to);
      const body: v.InferOutput<typeof topEventsResponse> = {
        from,
        to,
        events: await deps.stats.topEvents(from, to, limit),
      };
      return c.json(body);
    })
    .get("/retention", describeRetention, async (c) => {
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
