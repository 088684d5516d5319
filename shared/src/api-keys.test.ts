import { describe, expect, it } from "vitest";
import { generateApiKey, KeyRing } from "./api-keys.ts";

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
