import { CliError, usageExit } from "../cli-error.ts";
import { purge, replay } from "./change.ts";
import type { DlqAction, DlqContext } from "./context.ts";
import { list } from "./list.ts";
import { show } from "./show.ts";
import { stats } from "./stats.ts";

export type { DlqContext } from "./context.ts";

export const dlqUsage = `pnpm ops dlq stats [--json]
pnpm ops dlq list [--reason R] [--code C] [--since T] [--until T] [--limit N] [--json]
pnpm ops dlq show SEQ [--json]
pnpm ops dlq replay (--all | --seq N... | --reason R | --code C | --since T | --until T) [--dry-run] [--rate N] [--json]
pnpm ops dlq purge (--all | --seq N... | --reason R | --code C | --since T | --until T) --yes [--json]
  T: 2026-11-23T10:00:00Z, 2026-11-23, or a time ago such as 30m, 2h, 7d`;

const actions = new Map<string | undefined, DlqAction>(Object.entries({ stats, list, show, replay, purge }));

export async function dlqCommand(argv: string[], context: () => Promise<DlqContext>): Promise<void> {
  const [name, ...rest] = argv;
  const action = actions.get(name);
  if (!action) throw new CliError(`usage:\n${dlqUsage}`, usageExit);
  return action(context, rest);
}
