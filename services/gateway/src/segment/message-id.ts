import { v5 } from "uuid";

/** The root of every producer's namespace; fixed forever, or every mapped messageId would change. */
const evpipeNamespace = "5a0c3c52-8d7e-4b8f-9a3e-6f1d2c7b9e41";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const namespaces = new Map<string, string>();

/** The key's own namespace, so two producers that happen to send the same messageId never share an event. */
function namespaceOf(keyId: string): string {
  let namespace = namespaces.get(keyId);
  if (namespace === undefined) {
    namespace = v5(keyId, evpipeNamespace);
    namespaces.set(keyId, namespace);
  }
  return namespace;
}

/**
 * The event id of a Segment messageId (PRODUCT.md §3): a UUID is the id itself; any other string (the SDKs
 * send `node-next-<ms>-<uuid>` and the like) is a UUIDv5 of it in the namespace of the key that sent it, so a
 * messageId sent twice, or retried after a 503, is the same event and is stored once.
 */
export function eventIdOfMessageId(messageId: string, keyId: string): string {
  if (uuidPattern.test(messageId)) return messageId.toLowerCase();
  return v5(messageId, namespaceOf(keyId));
}
