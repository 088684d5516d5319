import { describe, expect, it } from "vitest";
import type { StatsQueries } from "./reads.ts";
import { statsAnswering } from "./testing/read-doubles.ts";
import { invalidStatsQueries } from "./testing/read-parameter-cases.ts";
import { createReadTestGateway, itRefusesInvalidQueries, itReportsStoreFailures } from "./testing/read-suite.ts";
import { describeSecurity } from "./testing/security-suite.ts";
import { createTestGateway } from "./testing/test-deps.ts";

const answers = {
  days: [
    { day: "2026-11-01", users: 3 },
    { day: "2026-11-02", users: 0 },
  ],
  events: [{ event: "click", count: 7, users: 4 }],
  cohorts: [{ cohort: "2026-11-01", users: 3, retained: [3, 1] }],
};

const setup = (stats: StatsQueries = statsAnswering(answers)) => createReadTestGateway({ stats });

const failingWith = (err: Error): StatsQueries => ({
  dailyActiveUsers: async () => Promise.reject(err),
  topEvents: async () => Promise.reject(err),
  retention: async () => Promise.reject(err),
});

describe("stats answers", () => {
  it("answers DAU for the range, one row per day", async () => {
    const { gateway, get } = setup();
    const { res, body } = await get("/v1/stats/dau?from=2026-11-01&to=2026-11-02");
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toEqual({ from: "2026-11-01", to: "2026-11-02", days: answers.days });
    expect(gateway.reads).toEqual([{ method: "dailyActiveUsers", args: ["2026-11-01", "2026-11-02"] }]);
  });

  it("answers the top events, 10 unless a limit is given", async () => {
    const { gateway, get } = setup();
    const { res, body } = await get("/v1/stats/top-events?from=2026-11-01&to=2026-11-07");
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toEqual({ from: "2026-11-01", to: "2026-11-07", events: answers.events });
    await get("/v1/stats/top-events?from=2026-11-01&to=2026-11-07&limit=3");
    expect(gateway.reads).toEqual([
      { method: "topEvents", args: ["2026-11-01", "2026-11-07", 10] },
      { method: "topEvents", args: ["2026-11-01", "2026-11-07", 3] },
    ]);
  });

  it("answers retention cohorts, following 7 days unless told otherwise", async () => {
    const { gateway, get } = setup();
    const { res, body } = await get("/v1/stats/retention?from=2026-11-01&to=2026-11-01");
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toEqual({ from: "2026-11-01", to: "2026-11-01", days: 7, cohorts: answers.cohorts });
    await get("/v1/stats/retention?from=2026-11-01&to=2026-11-01&days=1");
    expect(gateway.reads).toEqual([
      { method: "retention", args: ["2026-11-01", "2026-11-01", 7] },
      { method: "retention", args: ["2026-11-01", "2026-11-01", 1] },
    ]);
  });

  it("accepts a range of exactly 366 days", async () => {
    const { get } = setup();
    expect((await get("/v1/stats/dau?from=2025-11-04&to=2026-11-04")).res.status).toBe(200);
  });
});

describe("stats parameters", () => {
  itRefusesInvalidQueries(invalidStatsQueries, setup);
});

const routes = [
  "/v1/stats/dau?from=2026-11-01&to=2026-11-07",
  "/v1/stats/top-events?from=2026-11-01&to=2026-11-07",
  "/v1/stats/retention?from=2026-11-01&to=2026-11-07",
];

describe("stats when the store fails", () => {
  itReportsStoreFailures(routes, (err) => setup(failingWith(err)), {
    error: new Error('column "users" does not exist; password=hunter2'),
    leaks: /hunter2|column/,
  });
});

for (const path of routes) {
  describeSecurity({ method: "GET", path, scope: "read" }, () => createTestGateway({ stats: statsAnswering(answers) }));
}
