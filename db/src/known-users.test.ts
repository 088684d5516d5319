import { describe, expect, it } from "vitest";
import { KnownUsers } from "./known-users.ts";

const user = { userNo: 1, firstDay: "2026-01-01" };
const remembered = (known: KnownUsers, ids: string[]) => ids.filter((id) => known.get(id) !== undefined);

describe("KnownUsers", () => {
  it("forgets the least recently seen users past its count", () => {
    const known = new KnownUsers(3);
    const ids = ["u1", "u2", "u3", "u4"];
    for (const id of ids) known.remember(id, user);
    expect(remembered(known, ids)).toEqual(["u2", "u3", "u4"]);
  });

  it("keeps fewer users when their ids are long, so its bytes stay under the cap", () => {
    // 10 ids of 128 characters take 10 * (150 + 256) bytes: a cap of 5 of them keeps the last 5.
    const known = new KnownUsers(1000, 5 * (150 + 2 * 128));
    const ids = Array.from({ length: 10 }, (_, index) => `user-${index}-`.padEnd(128, "x"));
    for (const id of ids) known.remember(id, user);
    expect(remembered(known, ids)).toEqual(ids.slice(5));
  });
});
