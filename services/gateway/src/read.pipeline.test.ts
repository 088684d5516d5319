import { pipelineSummaryResponse } from "@evpipe/shared/api-responses";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { errorEnvelope } from "./testing/error-envelope.ts";
import { pipelineAnswering, sampleSummary } from "./testing/pipeline-double.ts";
import { createReadTestGateway } from "./testing/read-suite.ts";
import { describeSecurity } from "./testing/security-suite.ts";
import { createTestGateway } from "./testing/test-deps.ts";

describe("GET /v1/pipeline", () => {
  it("answers the summary, as its response schema says, reading nothing from the event store", async () => {
    const { gateway, get } = createReadTestGateway({});
    const { res, body } = await get("/v1/pipeline");
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toEqual(sampleSummary);
    expect(v.safeParse(pipelineSummaryResponse, body).success).toBe(true);
    expect(gateway.reads).toEqual([{ method: "summary", args: [] }]);
  });

  it("answers 503 UNAVAILABLE with Retry-After of the refresh interval when JetStream cannot be read now", async () => {
    const { get } = createReadTestGateway({ pipeline: { refreshMs: 2500, summary: async () => undefined } });
    const { res, body } = await get("/v1/pipeline");
    expect(res.status, JSON.stringify(body)).toBe(503);
    expect(res.headers.get("retry-after")).toBe("3");
    expect(body).toEqual(
      errorEnvelope(
        res.headers,
        "UNAVAILABLE",
        "The pipeline's state cannot be read now: JetStream did not answer; retry shortly.",
      ),
    );
  });

  it("answers a failure of the source with a generic 500, leaking nothing", async () => {
    const failing = { refreshMs: 2000, summary: async () => Promise.reject(new Error("nats://secret@host down")) };
    const { get } = createReadTestGateway({ pipeline: failing });
    const { res, body } = await get("/v1/pipeline");
    expect(res.status, JSON.stringify(body)).toBe(500);
    expect(JSON.stringify(body)).not.toMatch(/secret|nats:/);
  });
});

describeSecurity({ method: "GET", path: "/v1/pipeline", scope: "read" }, () =>
  createTestGateway({ pipeline: pipelineAnswering() }),
);
