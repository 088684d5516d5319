import { hash } from "node:crypto";
import { parse, v5 } from "uuid";

/** The root of every producer's namespace; fixed forever, or every mapped messageId would change. */
const evpipeNamespace = "5a0c3c52-8d7e-4b8f-9a3e-6f1d2c7b9e41";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Each key's namespace as bytes, ready to hash. */
const namespaces = new Map<string, Uint8Array>();

/** The key's own namespace, so two producers that happen to send the same messageId never share an event. */
function namespaceOf(keyId: string): Uint8Array {
  let namespace = namespaces.get(keyId);
  if (namespace === undefined) {
    namespace = parse(v5(keyId, evpipeNamespace));
    namespaces.set(keyId, namespace);
  }
  return namespace;
}

/**
 * RFC 9562's UUIDv5 (SHA-1 of namespace and name, version and variant bits set), as the `uuid` package
 * computes it (the unit test checks they agree): one hash call on a cached namespace, where the package parses
 * the namespace and builds the hash step by step for every id, which was the Segment route's largest cost.
 */
// Namespace and name side by side for the hash: a messageId is at most 100 characters, 400 bytes of UTF-8.
const scratch = Buffer.alloc(16 + 400);

function uuidV5(name: string, namespace: Uint8Array): string {
  scratch.set(namespace, 0);
  const input =
    name.length <= 100
      ? scratch.subarray(0, 16 + scratch.write(name, 16, "utf8"))
      : Buffer.concat([namespace, Buffer.from(name)]);
  const digest = hash("sha1", input, "buffer");
  digest[6] = ((digest[6] as number) & 0x0f) | 0x50;
  digest[8] = ((digest[8] as number) & 0x3f) | 0x80;
  const hex = digest.toString("hex", 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The event id of a Segment messageId (PRODUCT.md §3): a UUID is the id itself; any other string (the SDKs
 * send `node-next-<ms>-<uuid>` and the like) is a UUIDv5 of it in the namespace of the key that sent it, so a
 * messageId sent twice, or retried after a 503, is the same event and is stored once.
 */
export function eventIdOfMessageId(messageId: string, keyId: string): string {
  if (uuidPattern.test(messageId)) return messageId.toLowerCase();
  return uuidV5(messageId, namespaceOf(keyId));
}
