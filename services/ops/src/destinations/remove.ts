import { parseArgs } from "node:util";
import { isNotFound } from "@evpipe/shared";
import type { JetStreamManager } from "nats";
import { singleName } from "./arguments.ts";
import type { DestinationsAction } from "./context.ts";
import { requireDestination } from "./records.ts";

async function deleteConsumer(jsm: JetStreamManager, stream: string, consumer: string): Promise<void> {
  await jsm.consumers.delete(stream, consumer).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}

/** Messages purged from one subject of a stream; 0 when the stream does not exist. */
async function purgeSubject(jsm: JetStreamManager, stream: string, subject: string): Promise<number> {
  const purged = await jsm.streams.purge(stream, { filter: subject }).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  return purged?.purged ?? 0;
}

/**
 * Removes the record first, so the forwarder stops, then what it leaves behind: its consumers (their positions),
 * its dead letters and replays waiting, and its status. The record is purged rather than deleted: its history
 * holds the sealed secret.
 */
export const remove: DestinationsAction = async (deps, argv) => {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const name = singleName(positionals, "pnpm ops destinations remove NAME");
  const ctx = await deps.connect();
  const { names } = ctx;
  await requireDestination(ctx.destinations, name);
  await ctx.destinations.purge(name);
  await deleteConsumer(ctx.jsm, ctx.natsNames.eventsStream, names.consumer(name));
  await deleteConsumer(ctx.jsm, names.replayStream, names.consumer(name));
  const deadLetters = await purgeSubject(ctx.jsm, names.dlqStream, names.dlqSubject(name));
  const replays = await purgeSubject(ctx.jsm, names.replayStream, names.replaySubject(name));
  await ctx.status.purge(name);
  const waiting = replays ? `, and ${replays} replayed dead letters not yet delivered` : "";
  deps.print(`Removed destination ${name}; dropped its ${deadLetters} dead letters${waiting}.`);
};
