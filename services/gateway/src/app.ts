import type { EventLimits, KeyRing, KeyUsage, Logger } from "@evpipe/shared";
import { type Context, Hono } from "hono";
import type { GatewayEnv } from "./context.ts";
import { ApiError } from "./errors.ts";
import { type GatewayMetrics, metricsRoutes, requestObserver } from "./metrics.ts";
import { earlyAnswer } from "./middleware/early-answer.ts";
import { requestContext } from "./middleware/request-context.ts";
import type { PipelineSummarySource } from "./pipeline/summary-source.ts";
import type { EventPublisher } from "./publisher.ts";
import { RateLimiter } from "./rate-limit.ts";
import { type EventReads, type StatsQueries, StoreUnavailable } from "./reads.ts";
import { routeMiss } from "./route-miss.ts";
import { dashboardRoutes } from "./routes/dashboard.ts";
import { eventsReadRoutes } from "./routes/events-read.ts";
import { healthRoutes, type Readiness } from "./routes/health.ts";
import { ingestRoutes } from "./routes/ingest.ts";
import { pipelineRoutes } from "./routes/pipeline.ts";
import { referenceRoutes } from "./routes/reference.ts";
import { segmentRoutes } from "./routes/segment.ts";
import { statsRoutes } from "./routes/stats.ts";

export interface GatewayDeps {
  log: Logger;
  /** Only the read routes use these; accepting events never touches the event store. */
  eventReads: EventReads;
  stats: StatsQueries;
  /** GET /v1/pipeline's answers: JetStream sampled lazily, rates from the services' reports. */
  pipeline: PipelineSummarySource;
  keys: KeyRing;
  usage: KeyUsage;
  publisher: EventPublisher;
  readiness: () => Promise<Readiness>;
  limits: EventLimits;
  now?: () => number;
  /** Absent with METRICS_ENABLED=false: nothing is measured and /metrics answers 404. */
  metrics?: GatewayMetrics;
}

function errorResponse(c: Context<GatewayEnv>, err: unknown) {
  let apiError: ApiError;
  if (err instanceof ApiError) {
    apiError = err;
  } else if (err instanceof StoreUnavailable) {
    c.get("log").warn({ err }, "event store unavailable");
    apiError = new ApiError("UNAVAILABLE", "The event store is unavailable; retry shortly.", {
      headers: { "Retry-After": "5" },
    });
  } else {
    c.get("log").error({ err }, "unhandled error");
    apiError = new ApiError("INTERNAL", "Internal error; quote the request id when reporting it.");
  }
  for (const [name, value] of Object.entries(apiError.headers)) c.header(name, value);
  return c.json(apiError.body(c.get("requestId")), apiError.status);
}

export function createApp(deps: GatewayDeps) {
  const now = deps.now ?? Date.now;
  const limiter = new RateLimiter(now);
  // Up to two whole bodies, for at most a second: a client refused before it finished sending what it was
  // allowed to send, or a little more (an SDK's batch just over the limit, announced by Content-Length), still
  // reads its answer and gets a clean close; a slow or far oversized sender cannot hold the socket for long.
  const largestBody = Math.max(deps.limits.maxBodyBytes, deps.limits.maxSegmentBodyBytes);
  const drainBudget = { maxBytes: 2 * largestBody, maxMs: 1000 };
  const app = new Hono<GatewayEnv>();
  app
    // First, so it logs, times and counts every answer, early and error ones included.
    .use(requestContext(deps.log, deps.metrics && requestObserver(deps.metrics)))
    .use(earlyAnswer(drainBudget))
    .route("/", healthRoutes(deps.readiness))
    .route("/", metricsRoutes(deps.metrics))
    .route("/", dashboardRoutes())
    .route("/v1", ingestRoutes({ ...deps, now, limiter }))
    .route("/v1", eventsReadRoutes({ ...deps, now, limiter }))
    .route("/v1", segmentRoutes({ ...deps, now, limiter }))
    .route("/v1/stats", statsRoutes({ ...deps, now, limiter }))
    .route("/v1/pipeline", pipelineRoutes({ ...deps, now, limiter }));
  // Last, so that the reference sees every route registered above.
  app.route("/", referenceRoutes(app));
  const miss = routeMiss(() => app.routes);
  return app.notFound((c) => errorResponse(c, miss(c))).onError((err, c) => errorResponse(c, err));
}

export type { PipelineSummarySource } from "./pipeline/summary-source.ts";
export type { EventPublisher } from "./publisher.ts";
export {
  type Cohort,
  type EventPosition,
  type EventReads,
  type StatsQueries,
  type StoredEvent,
  StoreUnavailable,
} from "./reads.ts";
export type { Readiness } from "./routes/health.ts";
