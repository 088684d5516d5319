import type { Hono } from "hono";
import { generateSpecs } from "hono-openapi";
import type { GatewayEnv } from "../context.ts";
import { securitySchemes } from "./describe.ts";

const metricsOperation = {
  tags: ["Operations"],
  summary: "Prometheus metrics",
  description: "The Prometheus text exposition: requests, durations, publishes, process metrics.",
  security: [],
  responses: {
    200: {
      description: "Metrics in the Prometheus text format.",
      content: { "text/plain": { schema: { type: "string" } } },
    },
  },
};

/**
 * Routes registered outside routes/ and without a schema of their own: /metrics (text/plain). Each is
 * documented only when the app really registers it.
 */
const describedHere: Record<string, object> = { "GET /metrics": metricsOperation };

/** The OpenAPI 3.1 document of every route the app registers, from the metadata beside each route. */
export async function buildDocument(app: Hono<GatewayEnv>): Promise<Record<string, unknown>> {
  const document = await generateSpecs(app, {
    documentation: {
      info: {
        title: "evpipe gateway",
        version: "1",
        description:
          "Send events over HTTP; read them back and ask for daily active users, top events and retention. " +
          "Every error answers with one envelope: `{error: {code, message, details?, request_id}}`.",
      },
      tags: [
        { name: "Ingest", description: "Producers send events (scope `ingest`)." },
        { name: "Events", description: "Stored events (scope `read`)." },
        { name: "Stats", description: "Analytics over the stored events (scope `read`)." },
        {
          name: "Pipeline",
          description: "What the pipeline is doing, for operators: rates, backlogs, dead letters (scope `read`).",
        },
        { name: "Operations", description: "Health, readiness and metrics; no key." },
        { name: "Reference", description: "This document and its docs page; no key." },
      ],
      components: { securitySchemes },
    },
    // /openapi.json is a route, not a static file.
    excludeStaticFile: false,
    defaultValidationErrorResponse: false,
  });
  const paths = document.paths as Record<string, Record<string, unknown>>;
  for (const route of app.routes) {
    const described = describedHere[`${route.method} ${route.path}`];
    if (!described || paths[route.path]?.[route.method.toLowerCase()]) continue;
    const { responses, ...operation } = described as typeof metricsOperation;
    paths[route.path] = {
      ...paths[route.path],
      [route.method.toLowerCase()]: { ...operation, responses: { ...responses } },
    };
  }
  return JSON.parse(JSON.stringify(document)) as Record<string, unknown>;
}
