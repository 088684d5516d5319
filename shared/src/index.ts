export * from "./api-keys.ts";
export * from "./config.ts";
export * from "./event.ts";
export * from "./limits.ts";
export * from "./logger.ts";
export * from "./names.ts";
export * from "./nats.ts";
export * from "./shutdown.ts";
