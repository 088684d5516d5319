import { parseArgs } from "node:util";
import { type Database, type DayRange, rebuildRollups, verifyRollups } from "@evpipe/db";
import { isUtcDay } from "@evpipe/shared";
import type { Kysely } from "kysely";
import { CliError, usageExit } from "./cli-error.ts";
import { formatTable } from "./table.ts";

export const rollupsUsage = `pnpm ops rollups rebuild [--from YYYY-MM-DD --to YYYY-MM-DD]
pnpm ops rollups verify [--from YYYY-MM-DD --to YYYY-MM-DD] [--json]`;

function parseRange(values: { from?: string; to?: string }): DayRange | undefined {
  if (values.from === undefined && values.to === undefined) return undefined;
  if (values.from === undefined || values.to === undefined)
    throw new CliError("give both --from and --to, or neither", usageExit);
  for (const [option, value] of [
    ["from", values.from],
    ["to", values.to],
  ] as const) {
    if (!isUtcDay(value)) {
      throw new CliError(`--${option} "${value}" is not a date as YYYY-MM-DD`, usageExit);
    }
  }
  if (values.to < values.from) throw new CliError("--to must not be before --from", usageExit);
  return { from: values.from, to: values.to };
}

export async function rollupsCommand(
  argv: string[],
  database: () => Promise<Kysely<Database>>,
  print: (line: string) => void,
) {
  const [action, ...rest] = argv;
  const options = { from: { type: "string" }, to: { type: "string" }, json: { type: "boolean" } } as const;
  switch (action) {
    case "rebuild": {
      const { values } = parseArgs({ args: rest, options });
      const range = parseRange(values);
      const started = Date.now();
      const { movedLater } = await rebuildRollups(await database(), range);
      print(
        `Rebuilt the rollups ${range ? `from ${range.from} to ${range.to}` : "for all days"} in ${((Date.now() - started) / 1000).toFixed(1)} s.`,
      );
      // Consumers remember first-seen days and trust that they only ever move earlier (ADR §17).
      if (movedLater > 0)
        print(`${movedLater} user(s) had a first-seen day that was too early; restart the consumers now.`);
      return;
    }
    case "verify": {
      const { values } = parseArgs({ args: rest, options });
      const range = parseRange(values);
      const mismatches = await verifyRollups(await database(), range);
      if (values.json) print(JSON.stringify({ agree: mismatches.length === 0, mismatches }));
      else if (mismatches.length === 0)
        print(
          `The rollups agree with a raw recount of the events${range ? ` from ${range.from} to ${range.to}` : ""}.`,
        );
      else {
        const rows = mismatches.map((m) => [m.rollup, m.key, m.stored ?? "(missing)", m.recounted ?? "(missing)"]);
        for (const line of formatTable(["ROLLUP", "KEY", "STORED", "RECOUNTED"], rows)) print(line);
        print(
          `${mismatches.length} mismatch(es) (at most 100 per rollup shown); pnpm ops rollups rebuild repairs them.`,
        );
      }
      if (mismatches.length > 0) throw new CliError("the rollups disagree with the events", 1);
      return;
    }
    default:
      throw new CliError(`usage:\n${rollupsUsage}`, usageExit);
  }
}
