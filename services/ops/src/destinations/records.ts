import {
  createMissingStreams,
  type DestinationNames,
  type DestinationRecord,
  destinationRecord,
  destinationStreamConfigs,
  readDestination,
  type StreamSettings,
} from "@evpipe/shared";
import type { JetStreamManager, KV } from "nats";
import * as v from "valibot";
import { CliError } from "../cli-error.ts";

/** The record as the bucket keeps it, checked against the schema the forwarder reads it with. */
export const encodeRecord = (record: DestinationRecord): string => JSON.stringify(v.parse(destinationRecord, record));

/** The destination and its revision, or exit 1 when there is none of that name (as `keys revoke` does). */
export async function requireDestination(kv: KV, name: string) {
  const found = await readDestination(kv, name);
  if (!found) throw new CliError(`no destination named ${name} (pnpm ops destinations list shows them)`);
  return found;
}

/** The bucket's "wrong last sequence": another write came first. */
export const isWrongLastSequence = (err: unknown) =>
  (err as { api_error?: { err_code?: number } }).api_error?.err_code === 10071;

/** A URL as shown: a password in it is masked (a path token cannot be told apart, and is shown). */
export function displayUrl(text: string): string {
  const url = new URL(text);
  if (url.password === "") return text;
  url.password = "****";
  return url.toString();
}

/** A destination as `add` and `list` print it: the secret as given (redacted), never the sealed text. */
export function destinationView(record: DestinationRecord, secret: string) {
  return {
    name: record.name,
    type: record.type,
    url: displayUrl(record.url),
    secret,
    events: record.events ?? null,
    rate: record.rate ?? null,
    paused: record.paused,
    created_at: record.created_at,
    start_at: record.start_at ?? null,
  };
}

/**
 * Creates the destinations' DLQ and replay streams when missing, so `destinations dlq` works before the
 * forwarder first ran. An existing stream is left as it is: the forwarder's settings are the ones that count.
 */
export async function ensureDestinationStreams(
  jsm: JetStreamManager,
  names: DestinationNames,
  settings: StreamSettings,
): Promise<void> {
  await createMissingStreams(jsm, destinationStreamConfigs(names, settings));
}
