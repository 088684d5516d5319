export * from "./error-envelope.ts";
export * from "./exposition.ts";
export * from "./pipeline-double.ts";
export * from "./read-doubles.ts";
export * from "./read-parameter-cases.ts";
export * from "./read-suite.ts";
export * from "./security-suite.ts";
export * from "./test-deps.ts";
