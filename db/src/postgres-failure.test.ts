import { describe, expect, it } from "vitest";
import { postgresFailure, postgresUrlForLog } from "./postgres-failure.ts";

describe("what migrate may print of a PostgreSQL failure", () => {
  it.each([
    ["postgres://app:s3cret@db:5432/events", "postgres://app@db:5432/events"],
    ["postgres://app@db/events?password=s3cret&sslmode=require", "postgres://app@db/events?sslmode=require"],
    ["postgres://db/events?sslpassword=s3cret&PASSWORD=x", "postgres://db/events"],
  ])("prints %s as %s, never the password", (url, shown) => {
    expect(postgresUrlForLog(url)).toBe(shown);
  });

  it("names an unreachable server, a refusal with its SQLSTATE, and leaves anything else to the stack", () => {
    const where = "postgres://app@db/events";
    expect(
      postgresFailure(Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:5432"), { code: "ECONNREFUSED" }), where),
    ).toBe("cannot reach PostgreSQL at postgres://app@db/events: connect ECONNREFUSED 10.0.0.1:5432");
    expect(postgresFailure(Object.assign(new Error('role "app" does not exist'), { code: "28000" }), where)).toBe(
      'PostgreSQL at postgres://app@db/events refused: role "app" does not exist (SQLSTATE 28000)',
    );
    expect(postgresFailure(new TypeError("x is not a function"), where)).toBeUndefined();
  });
});
