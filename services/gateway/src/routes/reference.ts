import { Hono } from "hono";
import type { GatewayEnv } from "../context.ts";

/** `/openapi.json` and `/docs`, generated from the finished app's routes. (Being built: issue #11.) */
export function referenceRoutes(_app: Hono<GatewayEnv>) {
  return new Hono<GatewayEnv>();
}
