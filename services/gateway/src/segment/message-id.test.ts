import { v5, validate, version } from "uuid";
import { describe, expect, it } from "vitest";
import { eventIdOfMessageId } from "./message-id.ts";

describe("the event id of a messageId", () => {
  it("is the messageId itself, lower-cased, when it is a UUID", () => {
    expect(eventIdOfMessageId("0192E4C2-7F1A-4000-8000-00000000ABCD", "key-a")).toBe(
      "0192e4c2-7f1a-4000-8000-00000000abcd",
    );
  });

  it("is a stable UUIDv5 of any other messageId, in the namespace of the key", () => {
    const id = eventIdOfMessageId("node-next-1764500000000-abc", "key-a");
    expect(validate(id) && version(id)).toBe(5);
    expect(eventIdOfMessageId("node-next-1764500000000-abc", "key-a")).toBe(id);
    // The namespace is itself the UUIDv5 of the key id in the project's fixed root namespace.
    const namespace = v5("key-a", "5a0c3c52-8d7e-4b8f-9a3e-6f1d2c7b9e41");
    expect(id).toBe(v5("node-next-1764500000000-abc", namespace));
  });

  it("agrees with the uuid package for names of every kind", () => {
    const namespace = v5("key-b", "5a0c3c52-8d7e-4b8f-9a3e-6f1d2c7b9e41");
    for (const name of ["", "a", "ünïcode-✓", "x".repeat(100), "node-next-1764500000000-3f1c"]) {
      expect(eventIdOfMessageId(name, "key-b"), name).toBe(v5(name, namespace));
    }
  });

  it("differs between keys and between messageIds", () => {
    const ids = new Set([
      eventIdOfMessageId("m-1", "key-a"),
      eventIdOfMessageId("m-1", "key-b"),
      eventIdOfMessageId("m-2", "key-a"),
      eventIdOfMessageId("M-1", "key-a"),
    ]);
    expect(ids.size).toBe(4);
  });
});
