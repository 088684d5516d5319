import { KnownUsers, storeEvents } from "@evpipe/db";
import { createReadStore } from "@evpipe/gateway/read-store";
import { createTestGateway, describeSecurity } from "@evpipe/gateway/testing";
import { afterAll, beforeAll } from "vitest";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";

// The read routes' security cases again, over the real PostgreSQL store: the right key gets a real answer.
// services/gateway/src/read.*.test.ts run them over test doubles.
let pipeline: TestPipeline;

const storedId = "0192e4c2-0000-7000-8000-000000000001";

beforeAll(async () => {
  pipeline = await createTestPipeline();
  const at = "2026-11-02T10:00:00.000Z";
  await storeEvents(
    pipeline.db,
    [{ id: storedId, event: "e", user_id: "u1", received_at: at, request_id: "r", key_id: "k" }],
    new KnownUsers(),
  );
});

afterAll(async () => {
  await pipeline?.cleanup();
});

const gateway = () => createTestGateway(createReadStore(pipeline.db));
describeSecurity({ method: "GET", path: `/v1/events/${storedId}`, scope: "read" }, gateway);
describeSecurity({ method: "GET", path: "/v1/events?user_id=u1", scope: "read" }, gateway);
describeSecurity({ method: "GET", path: "/v1/stats/dau?from=2026-11-01&to=2026-11-07", scope: "read" }, gateway);
describeSecurity({ method: "GET", path: "/v1/stats/top-events?from=2026-11-01&to=2026-11-07", scope: "read" }, gateway);
describeSecurity({ method: "GET", path: "/v1/stats/retention?from=2026-11-01&to=2026-11-07", scope: "read" }, gateway);
