export * from "./error-envelope.ts";
export * from "./security-suite.ts";
export * from "./test-deps.ts";
