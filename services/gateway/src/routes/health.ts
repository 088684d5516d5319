import { Hono } from "hono";
import * as v from "valibot";
import type { GatewayEnv } from "../context.ts";
import { describeOperation, success } from "../openapi/describe.ts";

export const livenessResponse = v.object({ status: v.literal("ok") });
export const readinessResponse = v.object({
  status: v.picklist(["ready", "not_ready"]),
  checks: v.pipe(v.record(v.string(), v.boolean()), v.description("Each check by name: nats, streams.")),
});
export type Readiness = { ready: boolean; checks: v.InferOutput<typeof readinessResponse>["checks"] };

const describeLiveness = describeOperation({
  tags: ["Operations"],
  summary: "Liveness",
  description: "200 while the process serves HTTP.",
  responses: { 200: success("Alive.", livenessResponse) },
});

const describeReadiness = describeOperation({
  tags: ["Operations"],
  summary: "Readiness",
  description: "200 only when NATS is connected and the streams exist; 503 otherwise, with the failing check.",
  responses: {
    200: success("Ready to accept events.", readinessResponse),
    503: success("Not ready: a check failed.", readinessResponse),
  },
});

export function healthRoutes(readiness: () => Promise<Readiness>) {
  return new Hono<GatewayEnv>()
    .get("/healthz", describeLiveness, (c) => {
      const body: v.InferOutput<typeof livenessResponse> = { status: "ok" };
      return c.json(body);
    })
    .get("/readyz", describeReadiness, async (c) => {
      const report = await readiness();
      const body: v.InferOutput<typeof readinessResponse> = {
        status: report.ready ? "ready" : "not_ready",
        checks: report.checks,
      };
      return c.json(body, report.ready ? 200 : 503);
    });
}
