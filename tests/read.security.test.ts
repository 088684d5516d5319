import { KnownUsers, storeEvents } from "@evpipe/db";
import type { PipelineSummarySource } from "@evpipe/gateway";
import { openPipelineSummaries } from "@evpipe/gateway/pipeline";
import { createReadStore } from "@evpipe/gateway/read-store";
import { createTestGateway, describeSecurity } from "@evpipe/gateway/testing";
import { createLogger } from "@evpipe/shared";
import { afterAll, beforeAll } from "vitest";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";

// The read routes' security cases again, over the real PostgreSQL store (and GET /v1/pipeline over the real
// JetStream): the right key gets a real answer.
// services/gateway/src/read.*.test.ts run them over test doubles.
let pipeline: TestPipeline;
let summaries: { summaries: PipelineSummarySource; stop(): void };

const storedId = "0192e4c2-0000-7000-8000-000000000001";

beforeAll(async () => {
  pipeline = await createTestPipeline();
  const at = "2026-11-02T10:00:00.000Z";
  await storeEvents(
    pipeline.db,
    [{ id: storedId, event: "e", user_id: "u1", received_at: at, request_id: "r", key_id: "k" }],
    new KnownUsers(),
  );
  summaries = await openPipelineSummaries({
    js: pipeline.js,
    jsm: pipeline.jsm,
    names: pipeline.names,
    namespace: pipeline.namespace,
    log: createLogger({ service: "tests", level: "silent" }),
    refreshMs: 2000,
    reportIntervalMs: 2000,
    tallyMax: 100_000,
  });
});

afterAll(async () => {
  summaries?.stop();
  await pipeline?.cleanup();
});

// The pipeline summary over the real JetStream of the test's namespace.
const gateway = () => createTestGateway({ ...createReadStore(pipeline.db), pipeline: summaries.summaries });
describeSecurity({ method: "GET", path: `/v1/events/${storedId}`, scope: "read" }, gateway);
describeSecurity({ method: "GET", path: "/v1/events?user_id=u1", scope: "read" }, gateway);
describeSecurity({ method: "GET", path: "/v1/stats/dau?from=2026-11-01&to=2026-11-07", scope: "read" }, gateway);
describeSecurity({ method: "GET", path: "/v1/stats/top-events?from=2026-11-01&to=2026-11-07", scope: "read" }, gateway);
describeSecurity({ method: "GET", path: "/v1/stats/retention?from=2026-11-01&to=2026-11-07", scope: "read" }, gateway);
describeSecurity({ method: "GET", path: "/v1/pipeline", scope: "read" }, gateway);
