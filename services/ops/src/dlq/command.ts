import { CliError, usageExit } from "../cli-error.ts";
import { purge, replay } from "./change.ts";
import type { DlqAction, DlqContext } from "./context.ts";
import { list } from "./list.ts";
import { show } from "./show.ts";
import { stats } from "./stats.ts";

export type { DlqContext, DlqTarget } from "./context.ts";

/** The dlq subcommands as reached through `command` (`pnpm ops dlq`, `pnpm ops destinations dlq NAME`). */
export const dlqUsageFor = (command: string) => `${command} stats [--json]
${command} list [--reason R] [--code C] [--since T] [--until T] [--limit N] [--json]
${command} show SEQ [--json]
${command} replay (--all | --seq N... | --reason R | --code C | --since T | --until T) [--dry-run] [--rate N] [--json]
${command} purge (--all | --seq N... | --reason R | --code C | --since T | --until T) --yes [--json]
  T: 2026-11-23T10:00:00Z, 2026-11-23, or a time ago such as 30m, 2h, 7d`;

export const dlqUsage = dlqUsageFor("pnpm ops dlq");

const actions = new Map<string | undefined, DlqAction>(Object.entries({ stats, list, show, replay, purge }));

/** Whether `name` is a dlq subcommand, so a caller can refuse a wrong one before connecting. */
export const isDlqAction = (name: string | undefined) => actions.has(name);

export async function dlqCommand(
  argv: string[],
  context: () => Promise<DlqContext>,
  command = "pnpm ops dlq",
): Promise<void> {
  const [name, ...rest] = argv;
  const action = actions.get(name);
  if (!action) throw new CliError(`usage:\n${dlqUsageFor(command)}`, usageExit);
  return action(context, rest, command);
}
