import { randomBytes } from "node:crypto";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  destinationSecretsKeyVar,
  openSecret,
  redactSecret,
  SecretUnsealable,
  sealSecret,
} from "./destination-secrets.ts";

const key = randomBytes(32);

describe("destination secrets", () => {
  it("open with the same key and destination, and are never sealed the same way twice", () => {
    const sealed = sealSecret(key, "posthog-eu", "phc_abc123");
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain("phc_abc123");
    expect(openSecret(key, "posthog-eu", sealed)).toBe("phc_abc123");
    expect(sealSecret(key, "posthog-eu", "phc_abc123")).not.toBe(sealed);
  });

  it("do not open with another key, for another destination, or once changed", () => {
    const sealed = sealSecret(key, "hook", "whsec_1");
    expect(() => openSecret(randomBytes(32), "hook", sealed)).toThrow(SecretUnsealable);
    expect(() => openSecret(key, "other-hook", sealed)).toThrow(SecretUnsealable);
    const [head, iv, tag, body] = sealed.split(".") as [string, string, string, string];
    // One bit of the ciphertext flipped (not a base64 character, whose low bits may be padding).
    const bytes = Buffer.from(body, "base64url");
    bytes[0] = (bytes[0] as number) ^ 1;
    const flipped = bytes.toString("base64url");
    expect(() => openSecret(key, "hook", [head, iv, tag, flipped].join("."))).toThrow(SecretUnsealable);
    expect(() => openSecret(key, "hook", "plain-text")).toThrow(SecretUnsealable);
  });

  it("are redacted to their last four characters at most", () => {
    expect(redactSecret("phc_abcdefghijkl")).toBe("****ijkl");
    expect(redactSecret("short")).toBe("****");
  });

  it("need a key of 32 bytes, and say so when it is missing or wrong", () => {
    expect(v.parse(destinationSecretsKeyVar, key.toString("base64"))).toEqual(key);
    const missing = v.safeParse(destinationSecretsKeyVar, undefined);
    expect(missing.issues?.[0]?.message).toBe("is required: 32 random bytes in base64 (openssl rand -base64 32)");
    const short = v.safeParse(destinationSecretsKeyVar, randomBytes(16).toString("base64"));
    expect(short.issues?.[0]?.message).toBe("must be 32 bytes in base64 (openssl rand -base64 32)");
  });
});
