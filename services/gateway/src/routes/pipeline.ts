import { pipelineSummaryResponse } from "@evpipe/shared/api-responses";
import { Hono } from "hono";
import type { GatewayEnv } from "../context.ts";
import { ApiError } from "../errors.ts";
import { type AuthDeps, requireScope } from "../middleware/auth.ts";
import { describeOperation, success } from "../openapi/describe.ts";
import type { PipelineSummarySource } from "../pipeline/summary-source.ts";

export interface PipelineDeps extends AuthDeps {
  pipeline: PipelineSummarySource;
}

const describePipeline = describeOperation({
  tags: ["Pipeline"],
  summary: "Pipeline health",
  description:
    "Ingest and storage rates across every gateway and consumer, the writer's backlog, the EVENTS stream against " +
    "its cap, dead letters by reason, and each destination's lag and failures. Read from JetStream at most once " +
    "per `refresh_ms` whoever asks, and from what the services report; never from the stored events, so a call " +
    "costs the same at any volume. `sampled_at` says when JetStream was read: after a failed read it is the " +
    "last good one's, served until it is older than max(10 s, 5 × `refresh_ms`); then 503 until a read succeeds.",
  scope: "read",
  responses: { 200: success("The pipeline at a glance.", pipelineSummaryResponse) },
  errors: ["UNAVAILABLE"],
});

/** GET /v1/pipeline, for operators and the dashboard's live panel. */
export function pipelineRoutes(deps: PipelineDeps) {
  return new Hono<GatewayEnv>().use(requireScope(deps, "read")).get("/", describePipeline, async (c) => {
    const summary = await deps.pipeline.summary();
    if (!summary) {
      throw new ApiError(
        "UNAVAILABLE",
        "The pipeline's state cannot be read now: JetStream did not answer; retry shortly.",
        {
          headers: { "Retry-After": String(Math.max(1, Math.ceil(deps.pipeline.refreshMs / 1000))) },
        },
      );
    }
    return c.json(summary);
  });
}
