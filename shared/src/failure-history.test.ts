import { describe, expect, it } from "vitest";
import { decodeHistory, encodeHistory } from "./failure-history.ts";

describe("failure history", () => {
  it("decodes what it encodes", () => {
    const history = { failures: 3, firstFailureAt: "2026-11-30T11:00:00.000Z", deadLettered: ["a", "b"] };
    expect(decodeHistory(Buffer.from(encodeHistory(history)))).toEqual(history);
    const fresh = { failures: 0, firstFailureAt: undefined, deadLettered: [] };
    expect(decodeHistory(Buffer.from(encodeHistory(fresh)))).toEqual(fresh);
  });

  it("refuses a value that is not a history", () => {
    expect(() => decodeHistory(Buffer.from('{"failures":-1,"deadLettered":[]}'))).toThrow();
    expect(() => decodeHistory(Buffer.from("nope"))).toThrow();
  });
});
