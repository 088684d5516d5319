import type { DestinationNames, NatsNames } from "@evpipe/shared";
import { CliError, usageExit } from "../cli-error.ts";
import { type DlqTarget, dlqCommand, dlqUsageFor, isDlqAction } from "../dlq/command.ts";
import { parseName } from "./arguments.ts";
import type { DestinationsAction } from "./context.ts";
import { ensureDestinationStreams, requireDestination } from "./records.ts";

export const destinationDlqUsage = dlqUsageFor("pnpm ops destinations dlq NAME");

/**
 * One destination's dead letters: its subject of the destinations' DLQ stream. A replay goes to its replay
 * subject, which only its forwarder reads: not events.ingest, so neither PostgreSQL nor another destination
 * gets the events again.
 */
export function destinationDlqTarget(names: DestinationNames, nats: NatsNames, name: string): DlqTarget {
  return {
    stream: names.dlqStream,
    filterSubject: names.dlqSubject(name),
    replaySubject: names.replaySubject(name),
    auditStream: nats.dlqAuditStream,
    auditSubject: nats.dlqAuditSubject,
    destination: name,
  };
}

/** `destinations dlq NAME ACTION ...`: the `dlq` commands, on that destination's dead letters alone. */
export const dlq: DestinationsAction = async (deps, argv) => {
  const [nameArgument, action, ...rest] = argv;
  const name = parseName(nameArgument, "pnpm ops destinations dlq NAME (stats|list|show|replay|purge) ...");
  if (!isDlqAction(action)) throw new CliError(`usage:\n${destinationDlqUsage}`, usageExit);
  await dlqCommand(
    [action as string, ...rest],
    async () => {
      const ctx = await deps.connect();
      await requireDestination(ctx.destinations, name);
      await ensureDestinationStreams(ctx.jsm, ctx.names, ctx.streamSettings);
      return ctx.dlq(destinationDlqTarget(ctx.names, ctx.natsNames, name));
    },
    `pnpm ops destinations dlq ${name}`,
  );
};
