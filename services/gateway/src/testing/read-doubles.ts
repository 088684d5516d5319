import type { Cohort, EventPosition, EventReads, StatsQueries, StoredEvent } from "../reads.ts";

/** A stored event with the given fields over plausible defaults. */
export function storedEvent(fields: Partial<StoredEvent> & Pick<StoredEvent, "id">): StoredEvent {
  const at = new Date("2026-11-02T10:00:00.000Z");
  return {
    event: "signup",
    user_id: "u1",
    occurred_at: at,
    received_at: at,
    stored_at: at,
    metadata: null,
    request_id: "req-1",
    key_id: "key-1",
    type: "track",
    anonymous_id: null,
    ...fields,
  };
}

const positionOf = (event: StoredEvent): EventPosition => ({
  occurredAt: event.occurred_at.toISOString(),
  id: event.id,
});

/** Whether `event` sorts after `position` in newest-first order (occurred_at, then id, both descending). */
function isAfter(event: StoredEvent, position: EventPosition): boolean {
  const at = event.occurred_at.getTime();
  const bound = Date.parse(position.occurredAt);
  return at < bound || (at === bound && event.id < position.id);
}

/** EventReads over a list, ordered and paged as the PostgreSQL store does it. */
export function eventReadsOf(events: readonly StoredEvent[]): EventReads {
  return {
    byId: async (id) => events.find((event) => event.id === id),
    async byUser(userId, limit, after) {
      return events
        .filter((event) => event.user_id === userId && (!after || isAfter(event, after)))
        .sort((a, b) => (isAfter(a, positionOf(b)) ? 1 : isAfter(b, positionOf(a)) ? -1 : 0))
        .slice(0, limit)
        .map((event) => ({ event, position: positionOf(event) }));
    },
  };
}

/** StatsQueries that give the same answers whatever is asked; tests check what was asked through the call log. */
export function statsAnswering(
  answers: {
    days?: Array<{ day: string; users: number }>;
    events?: Array<{ event: string; count: number; users: number }>;
    cohorts?: Cohort[];
  } = {},
): StatsQueries {
  return {
    dailyActiveUsers: async () => answers.days ?? [],
    topEvents: async () => answers.events ?? [],
    retention: async () => answers.cohorts ?? [],
  };
}
