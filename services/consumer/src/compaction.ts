import { compactWeeks, type Database } from "@evpipe/db";
import type { Logger } from "@evpipe/shared";
import type { Kysely } from "kysely";

/** Compacts the weeks of rollups that have ended, now and every interval; one run at a time. */
export function scheduleCompaction(db: Kysely<Database>, log: Logger, intervalMs: number) {
  let running: Promise<void> | undefined;
  const run = () => {
    running ??= compactWeeks(db)
      .then((weeks) => {
        if (weeks.length > 0) log.info({ weeks }, "past weeks compacted");
      })
      .catch((err: unknown) => log.warn({ err }, "week compaction failed; retrying at the next interval"))
      .finally(() => {
        running = undefined;
      });
  };
  run();
  const timer = setInterval(run, intervalMs);
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
