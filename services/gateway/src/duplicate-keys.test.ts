import { describe, expect, it } from "vitest";
import { findDuplicateKey } from "./duplicate-keys.ts";

describe("findDuplicateKey", () => {
  it.each([
    ['{"a":1,"a":2}', "a"],
    ['{"event":"x","user_id":"u","event":"y"}', "event"],
    ['{"m":{"k":1,"k":2}}', "k"],
    ['{"events":[{"a":1},{"b":2,"b":3}]}', "b"],
    ['{"e\\u0076ent":1,"event":2}', "event"],
    ['{"a":{"x":1},"a":{"y":2}}', "a"],
  ])("finds the repeated key in %s", (text, key) => {
    expect(findDuplicateKey(text)).toBe(key);
  });

  it.each([
    ['{"a":1,"b":{"a":2}}'],
    ['[{"a":1},{"a":2}]'],
    ['{"a":"{\\"a\\":1,\\"a\\":2}"}'],
    ['{"a":["a","a"],"b":"a"}'],
    ['{"a\\"":1,"a":2}'],
    ["{}"],
    ['"a"'],
    ["[]"],
  ])("finds nothing in %s", (text) => {
    expect(findDuplicateKey(text)).toBeUndefined();
  });

  it("walks 100,000 levels of nesting without overflowing the stack", () => {
    const deep = `${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`;
    expect(findDuplicateKey(deep)).toBeUndefined();
  });
});
