import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import * as v from "valibot";

/**
 * Destination credentials (a Segment write key, a PostHog project key, a Mixpanel token, a webhook signing
 * secret) must be usable by the forwarder, so they cannot be hashed like our API keys: they are sealed with
 * AES-256-GCM under DESTINATION_SECRETS_KEY, with the destination's name as additional data, so a sealed
 * secret copied onto another destination does not open.
 */
const version = "v1";

/** DESTINATION_SECRETS_KEY: 32 random bytes, base64 (`openssl rand -base64 32`). */
const keyRequired = "is required: 32 random bytes in base64 (openssl rand -base64 32)";

/** DESTINATION_SECRETS_KEY: 32 random bytes, base64 (`openssl rand -base64 32`). */
export const destinationSecretsKeyVar = v.pipe(
  // Optional to valibot so that a missing variable gets this message rather than valibot's "Invalid key".
  v.optional(v.string(), ""),
  v.check((text) => text.trim() !== "", keyRequired),
  v.transform((text) => Buffer.from(text.trim(), "base64")),
  v.check((key) => key.length === 32, "must be 32 bytes in base64 (openssl rand -base64 32)"),
);

export class SecretUnsealable extends Error {
  override name = "SecretUnsealable";
}

/** The secret sealed for the destination named `name`: `v1.<iv>.<tag>.<ciphertext>`, base64url. */
export function sealSecret(key: Uint8Array, name: string, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(Buffer.from(name));
  const ciphertext = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
  return [version, iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString("base64url")).join(".");
}

/** The secret back; SecretUnsealable for another key, another destination's name, or a changed text. */
export function openSecret(key: Uint8Array, name: string, sealed: string): string {
  const [tag, ...parts] = sealed.split(".");
  if (tag !== version || parts.length !== 3) throw new SecretUnsealable(`not a sealed secret of ${version}`);
  const [iv, authTag, ciphertext] = parts.map((part) => Buffer.from(part, "base64url")) as [Buffer, Buffer, Buffer];
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv).setAAD(Buffer.from(name)).setAuthTag(authTag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
  } catch (err) {
    throw new SecretUnsealable("the secret does not open with this key for this destination", { cause: err });
  }
}

/** What `destinations list` shows of a secret: its last four characters at most, never the rest. */
export function redactSecret(secret: string): string {
  return secret.length <= 8 ? "****" : `****${secret.slice(-4)}`;
}
