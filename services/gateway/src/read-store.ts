import {
  classifyFailure,
  type Database,
  dailyActiveUsers,
  eventById,
  eventsOfUser,
  retention,
  topEvents,
} from "@evpipe/db";
import type { Kysely } from "kysely";
import { type EventReads, type StatsQueries, StoreUnavailable } from "./reads.ts";

/** Runs a query; an unreachable database becomes StoreUnavailable, any other failure stays as it is. */
async function query<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const failure = classifyFailure(err);
    if (failure.kind === "outage") {
      throw new StoreUnavailable(`PostgreSQL is unreachable (${failure.code})`, { cause: err });
    }
    throw err;
  }
}

/** The read interfaces over PostgreSQL, with db/'s queries; the gateway's only door to the database. */
export function createReadStore(db: Kysely<Database>): { eventReads: EventReads; stats: StatsQueries } {
  return {
    eventReads: {
      byId: (id) => query(() => eventById(db, id)),
      async byUser(userId, limit, after) {
        const rows = await query(() => eventsOfUser(db, userId, limit, after));
        return rows.map(({ occurred_at_exact, ...event }) => ({
          event,
          position: { occurredAt: occurred_at_exact, id: event.id },
        }));
      },
    },
    stats: {
      dailyActiveUsers: (from, to) => query(() => dailyActiveUsers(db, from, to)),
      topEvents: (from, to, limit) => query(() => topEvents(db, from, to, limit)),
      retention: (from, to, days) => query(() => retention(db, from, to, days)),
    },
  };
}
