import { parseArgs } from "node:util";
import { CliError } from "../cli-error.ts";
import { singleName } from "./arguments.ts";
import type { DestinationsAction, DestinationsDeps } from "./context.ts";
import { encodeRecord, isWrongLastSequence, requireDestination } from "./records.ts";

/** Tries of the compare-and-set before giving up to a record that keeps changing under it. */
const attempts = 5;

/**
 * Sets `paused` by compare-and-set on the revision read, so a concurrent change to the record (another pause,
 * a resume) is never overwritten with stale fields: on a conflict it reads again and decides again.
 */
async function setPaused(deps: DestinationsDeps, argv: string[], paused: boolean): Promise<void> {
  const verb = paused ? "pause" : "resume";
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const name = singleName(positionals, `pnpm ops destinations ${verb} NAME`);
  const ctx = await deps.connect();
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const { record, revision } = await requireDestination(ctx.destinations, name);
    if (record.paused === paused) {
      deps.print(`Destination ${name} is already ${paused ? "paused" : "active"}.`);
      return;
    }
    const written = await ctx.destinations.update(name, encodeRecord({ ...record, paused }), revision).then(
      () => true,
      (err: unknown) => {
        if (isWrongLastSequence(err)) return false;
        throw err;
      },
    );
    if (!written) continue;
    deps.print(
      paused
        ? `Paused destination ${name}: the forwarder stops delivering to it and keeps its position.`
        : `Resumed destination ${name}: the forwarder delivers from where it stopped.`,
    );
    return;
  }
  throw new CliError(
    `destination ${name} kept changing while it was being ${paused ? "paused" : "resumed"}: try again`,
  );
}

export const pause: DestinationsAction = (deps, argv) => setPaused(deps, argv, true);
export const resume: DestinationsAction = (deps, argv) => setPaused(deps, argv, false);
