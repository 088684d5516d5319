import { createHash, randomInt, timingSafeEqual } from "node:crypto";
import { crc32 } from "node:zlib";
import type { KV } from "nats";
import * as v from "valibot";
import type { Logger } from "./logger.ts";
import { openBucket, type Replication } from "./replication.ts";

export const scopes = ["ingest", "read", "admin"] as const;
export type Scope = (typeof scopes)[number];

const prefix = "evp_";
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
// evp_<12-char id>_<32-char secret, ~190 bits><6-char CRC32 checksum>
const keyPattern = /^evp_([0-9A-Za-z]{12})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/;

const apiKeyRecordSchema = v.object({
  id: v.string(),
  name: v.string(),
  scopes: v.array(v.picklist(scopes)),
  hash: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  /** Requests per second; absent means the default. */
  rate: v.optional(v.number()),
  /** Requests allowed at once above the rate; absent means twice the rate. */
  burst: v.optional(v.number()),
  created_at: v.string(),
  revoked_at: v.optional(v.string()),
});
export type ApiKeyRecord = v.InferOutput<typeof apiKeyRecordSchema>;

function randomBase62(length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

function checksum(body: string): string {
  let n = crc32(body);
  let out = "";
  for (let i = 0; i < 6; i++) {
    out = alphabet[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** A new key and the record to store for it; the key itself is shown once and never stored. */
/** A producer's default: 1000 requests/s (each up to 1000 events), bursting to twice that. */
export const defaultKeyRate = 1000;

export function generateApiKey(input: { name: string; scopes: readonly Scope[]; rate?: number; burst?: number }): {
  key: string;
  record: ApiKeyRecord;
} {
  const id = randomBase62(12);
  const body = `${prefix}${id}_${randomBase62(32)}`;
  const key = body + checksum(body);
  const record: ApiKeyRecord = {
    id,
    name: input.name,
    scopes: [...new Set(input.scopes)],
    hash: sha256(key).toString("hex"),
    created_at: new Date().toISOString(),
    ...(input.rate === undefined ? {} : { rate: input.rate }),
    ...(input.burst === undefined ? {} : { burst: input.burst }),
  };
  return { key, record };
}

export type Authentication =
  | { ok: true; key: ApiKeyRecord }
  | { ok: false; reason: "missing" | "malformed" | "unknown" | "revoked" };

/** The gateway's in-memory view of the keys bucket: authenticating a request does no I/O. */
export class KeyRing {
  readonly #records = new Map<string, { record: ApiKeyRecord; hash: Buffer }>();

  put(record: ApiKeyRecord): void {
    this.#records.set(record.id, { record, hash: Buffer.from(record.hash, "hex") });
  }

  has(id: string): boolean {
    return this.#records.has(id);
  }

  delete(id: string): void {
    this.#records.delete(id);
  }

  get size(): number {
    return this.#records.size;
  }

  authenticate(presented: string | undefined): Authentication {
    if (!presented) return { ok: false, reason: "missing" };
    const match = keyPattern.exec(presented);
    // The checksum rejects typos and random strings without a lookup.
    if (!match || checksum(presented.slice(0, -6)) !== match[3]) return { ok: false, reason: "malformed" };
    const entry = this.#records.get(match[1] as string);
    if (!entry || !timingSafeEqual(entry.hash, sha256(presented))) return { ok: false, reason: "unknown" };
    if (entry.record.revoked_at) return { ok: false, reason: "revoked" };
    return { ok: true, key: entry.record };
  }
}

export async function openKeysBucket(
  js: import("nats").JetStreamClient,
  bucket: string,
  replication?: Replication,
): Promise<KV> {
  return openBucket(js, bucket, { history: 5 }, replication);
}

export function parseKeyRecord(data: Uint8Array): ApiKeyRecord {
  return v.parse(apiKeyRecordSchema, JSON.parse(new TextDecoder().decode(data)));
}

export async function storeKeyRecord(kv: KV, record: ApiKeyRecord): Promise<void> {
  await kv.put(record.id, JSON.stringify(record));
}

export async function listKeyRecords(kv: KV): Promise<ApiKeyRecord[]> {
  // Collect the ids first: awaiting a get inside the keys() iteration cuts the listing short.
  const ids: string[] = [];
  for await (const id of await kv.keys()) ids.push(id);
  const records: ApiKeyRecord[] = [];
  for (const id of ids) {
    const entry = await kv.get(id);
    if (entry && entry.operation === "PUT") records.push(parseKeyRecord(entry.value));
  }
  return records.sort((a, b) => a.created_at.localeCompare(b.created_at));
}

/** Marks a key revoked; undefined when there is no such key. Every gateway sees it within its watch latency. */
export async function revokeKey(kv: KV, id: string): Promise<ApiKeyRecord | undefined> {
  const entry = await kv.get(id);
  if (entry?.operation !== "PUT") return undefined;
  const record = parseKeyRecord(entry.value);
  if (!record.revoked_at) {
    record.revoked_at = new Date().toISOString();
    await kv.update(id, JSON.stringify(record), entry.revision);
  }
  return record;
}

/**
 * Keeps a KeyRing in step with the keys bucket. Resolves once the bucket's current contents are loaded, so a
 * restarted gateway authenticates from JetStream alone, without PostgreSQL.
 */
export async function watchKeys(kv: KV, ring: KeyRing, log: Logger): Promise<{ stop(): void }> {
  const { promise: loaded, resolve } = Promise.withResolvers<void>();
  let initialized = false;
  const watch = await kv.watch({
    initializedFn: () => {
      initialized = true;
      resolve();
    },
  });
  void (async () => {
    for await (const entry of watch) {
      if (entry.operation !== "PUT") {
        ring.delete(entry.key);
        if (initialized) log.info({ keyId: entry.key }, "api key deleted");
        continue;
      }
      try {
        const record = parseKeyRecord(entry.value);
        const known = ring.has(record.id);
        ring.put(record);
        // Changes after the initial load: an operator created or revoked a key (never the key itself).
        if (initialized && (record.revoked_at || !known)) {
          const { id: keyId, name, scopes } = record;
          log.info({ keyId, name, scopes }, record.revoked_at ? "api key revoked" : "api key created");
        }
      } catch (err) {
        log.error({ err, keyId: entry.key }, "ignoring unreadable api key record");
      }
    }
  })();
  await loaded;
  return { stop: () => watch.stop() };
}

/**
 * When each key was last used, tracked in memory by the gateway (no I/O per request) and written to the
 * usage bucket now and then; `keys list` shows it. Several gateways each write their latest: the newest wins
 * within one flush interval.
 */
export class KeyUsage {
  #changed = new Map<string, number>();
  #running: Promise<number> | undefined;
  #queued: Promise<number> | undefined;

  touch(id: string, at: number): void {
    this.#changed.set(id, at);
  }

  /**
   * Writes what changed since the last flush and resolves to how many were written. Every entry is tried; the
   * ones that fail are kept for the next flush (unless touched again meanwhile, which keeps the newer time) and
   * the flush then rejects. Flushes run one after another, so an older time is never written after a newer
   * one; one asked for while another runs (the last one at shutdown) waits for it and then writes everything
   * changed until it starts.
   */
  flush(kv: Pick<KV, "put">): Promise<number> {
    if (this.#queued) return this.#queued;
    if (!this.#running) return this.#start(kv);
    this.#queued = this.#running
      .catch(() => undefined)
      .then(() => {
        this.#queued = undefined;
        return this.#start(kv);
      });
    return this.#queued;
  }

  #start(kv: Pick<KV, "put">): Promise<number> {
    const run: Promise<number> = this.#write(kv).finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  async #write(kv: Pick<KV, "put">): Promise<number> {
    const changed = this.#changed;
    this.#changed = new Map();
    const failures: unknown[] = [];
    for (const [id, at] of changed) {
      try {
        await kv.put(id, new Date(at).toISOString());
      } catch (err) {
        failures.push(err);
        this.#changed.set(id, Math.max(at, this.#changed.get(id) ?? at));
      }
    }
    if (failures.length > 0) {
      throw new AggregateError(failures, `${failures.length} of ${changed.size} key usage times not written`);
    }
    return changed.size;
  }
}

export async function openKeyUsageBucket(
  js: import("nats").JetStreamClient,
  bucket: string,
  replication?: Replication,
): Promise<KV> {
  return openBucket(js, bucket, { history: 1 }, replication);
}

export async function readKeyUsage(kv: KV): Promise<Map<string, string>> {
  const ids: string[] = [];
  for await (const id of await kv.keys()) ids.push(id);
  const usage = new Map<string, string>();
  for (const id of ids) {
    const entry = await kv.get(id);
    if (entry?.operation === "PUT") usage.set(id, new TextDecoder().decode(entry.value));
  }
  return usage;
}
