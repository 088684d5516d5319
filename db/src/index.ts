export * from "./connection.ts";
export * from "./events.ts";
export * from "./migrate.ts";
export type * from "./schema.ts";
