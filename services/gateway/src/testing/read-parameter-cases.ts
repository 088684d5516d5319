/** A read query the API refuses, and the details its 400 names: the bad parameter and why. */
export type InvalidReadQuery = [path: string, details: Record<string, string[]>];

export const invalidStatsQueries: InvalidReadQuery[] = [
  ["/v1/stats/dau?from=2026-02-30&to=2026-03-01", { from: ["must be a date as YYYY-MM-DD"] }],
  ["/v1/stats/dau?from=yesterday&to=2026-03-01", { from: ["must be a date as YYYY-MM-DD"] }],
  ["/v1/stats/dau?to=2026-03-01", { from: ["is required"] }],
  ["/v1/stats/dau?from=2026-03-02&to=2026-03-01", { to: ["must not be before from"] }],
  ["/v1/stats/dau?from=2025-01-01&to=2026-01-02", { to: ["must be at most 366 days after from"] }],
  ["/v1/stats/dau?from=2026-03-01&to=2026-03-01&tz=CET", { tz: ["is not a known parameter"] }],
  [
    "/v1/stats/dau?from=2026-03-01&to=2026-03-01&tz=CET&utc=1",
    { tz: ["is not a known parameter"], utc: ["is not a known parameter"] },
  ],
  ["/v1/stats/top-events?from=2026-03-01&to=2026-03-01&limit=0", { limit: ["must be a whole number from 1 to 100"] }],
  ["/v1/stats/top-events?from=2026-03-01&to=2026-03-01&limit=101", { limit: ["must be a whole number from 1 to 100"] }],
  ["/v1/stats/top-events?from=2026-03-01&to=2026-03-01&limit=ten", { limit: ["must be a whole number from 1 to 100"] }],
  ["/v1/stats/retention?from=2026-03-01&to=2026-03-01&days=0", { days: ["must be a whole number from 1 to 90"] }],
  ["/v1/stats/retention?from=2026-03-01&to=2026-03-01&days=91", { days: ["must be a whole number from 1 to 90"] }],
];

export const invalidEventQueries: InvalidReadQuery[] = [
  ["/v1/events?limit=5", { user_id: ["is required"] }],
  ["/v1/events?user_id=u1&limit=101", { limit: ["must be a whole number from 1 to 100"] }],
  ["/v1/events?user_id=u1&limit=0", { limit: ["must be a whole number from 1 to 100"] }],
  ["/v1/events?user_id=u1&cursor=bogus", { cursor: ["is not a cursor this API returned"] }],
  [`/v1/events?user_id=${"u".repeat(129)}`, { user_id: ["must be 1 to 128 characters"] }],
  ["/v1/events?user_id=u1&sort=asc", { sort: ["is not a known parameter"] }],
  [
    "/v1/events?sort=asc&order=desc",
    { user_id: ["is required"], sort: ["is not a known parameter"], order: ["is not a known parameter"] },
  ],
];
