import { describe, expect, it } from "vitest";
import { type StatsQueries, StoreUnavailable } from "./reads.ts";
import { errorEnvelope } from "./testing/error-envelope.ts";
import { statsAnswering } from "./testing/read-doubles.ts";
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

function setup(stats: StatsQueries = statsAnswering(answers)) {
  const gateway = createTestGateway({ stats });
  const { key } = gateway.issueKey(["read"]);
  const get = async (path: string) => {
    const res = await gateway.app.request(path, { headers: { "x-api-key": key } });
    return { res, body: (await res.json()) as Record<string, unknown> };
  };
  return { gateway, get };
}

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
  it.each([
    ["/v1/stats/dau?from=2026-02-30&to=2026-03-01", { from: ["must be a date as YYYY-MM-DD"] }],
    ["/v1/stats/dau?from=yesterday&to=2026-03-01", { from: ["must be a date as YYYY-MM-DD"] }],
    ["/v1/stats/dau?to=2026-03-01", { from: ["is required"] }],
    ["/v1/stats/dau?from=2026-03-02&to=2026-03-01", { to: ["must not be before from"] }],
    ["/v1/stats/dau?from=2025-01-01&to=2026-01-02", { to: ["must be at most 366 days after from"] }],
    ["/v1/stats/dau?from=2026-03-01&to=2026-03-01&tz=CET", { tz: ["is not a known parameter"] }],
    ["/v1/stats/top-events?from=2026-03-01&to=2026-03-01&limit=0", { limit: ["must be a whole number from 1 to 100"] }],
    [
      "/v1/stats/top-events?from=2026-03-01&to=2026-03-01&limit=ten",
      { limit: ["must be a whole number from 1 to 100"] },
    ],
    ["/v1/stats/retention?from=2026-03-01&to=2026-03-01&days=91", { days: ["must be a whole number from 1 to 90"] }],
  ])("answers 400 naming the bad parameter of %s, without reading", async (path, details) => {
    const { gateway, get } = setup();
    const { res, body } = await get(path);
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(body).toEqual(errorEnvelope(res.headers, "VALIDATION_ERROR", "1 query parameter(s) are invalid.", details));
    expect(gateway.reads).toEqual([]);
  });
});

const routes = [
  "/v1/stats/dau?from=2026-11-01&to=2026-11-07",
  "/v1/stats/top-events?from=2026-11-01&to=2026-11-07",
  "/v1/stats/retention?from=2026-11-01&to=2026-11-07",
];

describe("stats when the store fails", () => {
  it.each(routes)("answers %s with 503 UNAVAILABLE and Retry-After when the store is unavailable", async (path) => {
    const { get } = setup(failingWith(new StoreUnavailable("PostgreSQL is unreachable (ECONNREFUSED)")));
    const { res, body } = await get(path);
    expect(res.status, JSON.stringify(body)).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(body).toEqual(errorEnvelope(res.headers, "UNAVAILABLE", "The event store is unavailable; retry shortly."));
  });

  it.each(routes)("answers %s with a generic 500 on any other failure, leaking nothing", async (path) => {
    const { get } = setup(failingWith(new Error('column "users" does not exist; password=hunter2')));
    const { res, body } = await get(path);
    expect(res.status, JSON.stringify(body)).toBe(500);
    expect(JSON.stringify(body)).not.toMatch(/hunter2|column/);
    expect(body).toEqual(
      errorEnvelope(res.headers, "INTERNAL", "Internal error; quote the request id when reporting it."),
    );
  });
});

for (const path of routes) {
  describeSecurity({ method: "GET", path, scope: "read" }, () => createTestGateway({ stats: statsAnswering(answers) }));
}
