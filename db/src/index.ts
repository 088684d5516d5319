export * from "./analytics.ts";
export * from "./connection.ts";
export * from "./events.ts";
export * from "./failure.ts";
export * from "./known-users.ts";
export * from "./migrate.ts";
export * from "./rollups.ts";
export type * from "./schema.ts";
