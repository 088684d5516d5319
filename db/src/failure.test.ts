import { describe, expect, it } from "vitest";
import { classifyFailure } from "./failure.ts";

const pgError = (code: string, message = "db says no") => Object.assign(new Error(message), { code });

describe("classifyFailure", () => {
  it.each([
    ["40001", "transient"],
    ["40P01", "transient"],
    ["55P03", "transient"],
    ["57014", "transient"],
    ["53300", "outage"],
    ["22P02", "permanent"],
    ["22001", "permanent"],
    ["23505", "permanent"],
    ["23514", "permanent"],
    ["54001", "permanent"],
    ["57P01", "outage"],
    ["57P02", "outage"],
    ["57P03", "outage"],
    ["08006", "outage"],
    ["08001", "outage"],
    ["42P01", "bug"],
    ["42703", "bug"],
    ["28P01", "bug"],
    ["28000", "bug"],
    ["3D000", "bug"],
    ["XX000", "transient"],
  ])("treats SQLSTATE %s as %s", (code, kind) => {
    expect(classifyFailure(pgError(code))).toEqual({ kind, code, message: "db says no" });
  });

  it.each([["ECONNREFUSED"], ["ECONNRESET"], ["ETIMEDOUT"], ["EPIPE"]])("treats %s as an outage", (code) => {
    expect(classifyFailure(Object.assign(new Error("socket"), { code })).kind).toBe("outage");
  });

  it("treats node-postgres's lost-connection errors as an outage", () => {
    expect(classifyFailure(new Error("Connection terminated unexpectedly")).kind).toBe("outage");
    expect(classifyFailure(new Error("timeout exceeded when trying to connect")).kind).toBe("outage");
    const refused = new AggregateError([Object.assign(new Error("refused"), { code: "ECONNREFUSED" })], "");
    expect(classifyFailure(refused).kind).toBe("outage");
  });

  it("treats a TypeError (a bug in us) as a bug and an unknown error as transient", () => {
    expect(classifyFailure(new TypeError("x is undefined")).kind).toBe("bug");
    expect(classifyFailure(new Error("something odd")).kind).toBe("transient");
  });
});
