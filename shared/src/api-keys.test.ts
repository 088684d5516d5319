import type { KV } from "nats";
import { describe, expect, it } from "vitest";
import { generateApiKey, KeyRing, KeyUsage } from "./api-keys.ts";

/** A usage bucket whose put fails for the ids in `failing`; `written` holds what it stored, in order. */
function fakeUsageBucket(failing: Set<string>, onPut?: (id: string) => void) {
  const written: Array<[string, string]> = [];
  const kv: Pick<KV, "put"> = {
    async put(id, value) {
      await Promise.resolve();
      onPut?.(id);
      if (failing.has(id)) throw new Error(`put ${id} failed`);
      written.push([id, String(value)]);
      return written.length;
    },
  };
  return { kv, written };
}

const at = (second: number) => Date.UTC(2026, 10, 1, 12, 0, second);
const iso = (second: number) => new Date(at(second)).toISOString();

describe("API keys", () => {
  it("have a recognisable prefix, a 12-character id, and store only a SHA-256 hash", () => {
    const { key, record } = generateApiKey({ name: "shop", scopes: ["ingest", "ingest", "read"] });
    expect(key).toMatch(/^evp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$/);
    expect(key.slice(4, 16)).toBe(record.id);
    expect(record.scopes).toEqual(["ingest", "read"]);
    expect(record.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(record)).not.toContain(key.slice(17));
  });

  it("authenticate a stored key and tell apart why others fail", () => {
    const ring = new KeyRing();
    const { key, record } = generateApiKey({ name: "a", scopes: ["ingest"] });
    ring.put(record);
    expect(ring.authenticate(key)).toEqual({ ok: true, key: record });
    expect(ring.authenticate(undefined)).toEqual({ ok: false, reason: "missing" });
    expect(ring.authenticate("evp_nope")).toEqual({ ok: false, reason: "malformed" });
    const stranger = generateApiKey({ name: "b", scopes: ["ingest"] }).key;
    expect(ring.authenticate(stranger)).toEqual({ ok: false, reason: "unknown" });
    ring.put({ ...record, revoked_at: new Date().toISOString() });
    expect(ring.authenticate(key)).toEqual({ ok: false, reason: "revoked" });
    ring.delete(record.id);
    expect(ring.authenticate(key)).toEqual({ ok: false, reason: "unknown" });
  });

  it("reject a one-character typo by checksum, without a lookup", () => {
    const ring = new KeyRing();
    const { key, record } = generateApiKey({ name: "a", scopes: ["ingest"] });
    ring.put(record);
    for (const position of [20, 30, key.length - 1]) {
      const typo = key.slice(0, position) + (key[position] === "Z" ? "Y" : "Z") + key.slice(position + 1);
      expect(ring.authenticate(typo), typo).toEqual({ ok: false, reason: "malformed" });
    }
  });

  it("reject a well-formed key whose id is stored but whose secret does not match the stored hash", () => {
    const ring = new KeyRing();
    const stored = generateApiKey({ name: "a", scopes: ["ingest"] });
    const presented = generateApiKey({ name: "b", scopes: ["ingest"] });
    ring.put({ ...stored.record, id: presented.record.id });
    expect(ring.authenticate(presented.key)).toEqual({ ok: false, reason: "unknown" });
  });
});

describe("KeyUsage.flush", () => {
  it("writes every touched key's latest time once", async () => {
    const usage = new KeyUsage();
    usage.touch("a", at(1));
    usage.touch("b", at(2));
    usage.touch("a", at(3));
    const bucket = fakeUsageBucket(new Set());
    await expect(usage.flush(bucket.kv)).resolves.toBe(2);
    expect(bucket.written).toEqual([
      ["a", iso(3)],
      ["b", iso(2)],
    ]);
    await expect(usage.flush(bucket.kv)).resolves.toBe(0);
    expect(bucket.written).toHaveLength(2);
  });

  it("tries every entry when some puts fail, and keeps exactly the failed ones for the next flush", async () => {
    const usage = new KeyUsage();
    for (const [i, id] of ["a", "b", "c", "d", "e"].entries()) usage.touch(id, at(i));
    const failing = fakeUsageBucket(new Set(["a", "c", "d"]));
    await expect(usage.flush(failing.kv)).rejects.toThrow("3 of 5 key usage times not written");
    expect(failing.written).toEqual([
      ["b", iso(1)],
      ["e", iso(4)],
    ]);

    const healthy = fakeUsageBucket(new Set());
    await expect(usage.flush(healthy.kv)).resolves.toBe(3);
    expect(healthy.written).toEqual([
      ["a", iso(0)],
      ["c", iso(2)],
      ["d", iso(3)],
    ]);
  });

  it("keeps the newer time of an entry touched again while its write was failing", async () => {
    const usage = new KeyUsage();
    usage.touch("a", at(1));
    usage.touch("b", at(2));
    // A request with key a arrives while a's write is in flight, and that write then fails.
    const failing = fakeUsageBucket(new Set(["a"]), (id) => {
      if (id === "a") usage.touch("a", at(9));
    });
    await expect(usage.flush(failing.kv)).rejects.toThrow("1 of 2");
    expect(failing.written).toEqual([["b", iso(2)]]);

    const healthy = fakeUsageBucket(new Set());
    await expect(usage.flush(healthy.kv)).resolves.toBe(1);
    expect(healthy.written).toEqual([["a", iso(9)]]);
  });

  it("runs one flush at a time: one asked for meanwhile waits, then writes what changed since", async () => {
    const usage = new KeyUsage();
    usage.touch("a", at(1));
    const { promise: release, resolve } = Promise.withResolvers<void>();
    const written: Array<[string, string]> = [];
    const kv: Pick<KV, "put"> = {
      async put(id, value) {
        if (written.length === 0) await release;
        written.push([id, String(value)]);
        return written.length;
      },
    };
    const first = usage.flush(kv);
    usage.touch("a", at(5));
    const second = usage.flush(kv);
    const third = usage.flush(kv);
    expect(third).toBe(second);
    resolve();
    await expect(first).resolves.toBe(1);
    await expect(second).resolves.toBe(1);
    expect(written).toEqual([
      ["a", iso(1)],
      ["a", iso(5)],
    ]);
  });
});
