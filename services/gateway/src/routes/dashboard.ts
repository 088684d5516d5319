import { Hono } from "hono";
import type { GatewayEnv } from "../context.ts";
import { ApiError } from "../errors.ts";

/** `/dashboard` and its hashed assets, from the dashboard package's build (services/dashboard). */
export function dashboardRoutes() {
  return new Hono<GatewayEnv>().get("/dashboard", () => {
    throw new ApiError("NOT_FOUND", "The dashboard is not built yet.");
  });
}
