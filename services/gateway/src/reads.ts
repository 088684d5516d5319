import type { EventType } from "@evpipe/shared";

/**
 * What the read routes need from the event store, and nothing more: the routes depend on these, main.ts
 * builds them over PostgreSQL (read-store.ts), and unit tests give doubles.
 */

export interface StoredEvent {
  id: string;
  event: string;
  user_id: string;
  occurred_at: Date;
  received_at: Date;
  stored_at: Date;
  metadata: unknown;
  request_id: string;
  key_id: string;
  /** The Segment call type (`track` for our own API's events) and the user's anonymous id when one was sent. */
  type: EventType;
  anonymous_id: string | null;
}

/** Where a page of a user's events ends: the next page starts strictly after it. */
export interface EventPosition {
  /** occurred_at to the microsecond, as the store keeps it, so a page neither skips nor repeats an event. */
  occurredAt: string;
  id: string;
}

export interface EventReads {
  byId(id: string): Promise<StoredEvent | undefined>;
  /** The user's events newest first (by occurred_at, then id), after `after` when given. */
  byUser(
    userId: string,
    limit: number,
    after?: EventPosition,
  ): Promise<Array<{ event: StoredEvent; position: EventPosition }>>;
}

export interface Cohort {
  /** The UTC day the cohort's users were first seen. */
  cohort: string;
  users: number;
  /** retained[k]: how many of the cohort were active k days after their first day. */
  retained: number[];
}

/** Days are UTC days as YYYY-MM-DD, `from` and `to` inclusive. */
export interface StatsQueries {
  dailyActiveUsers(from: string, to: string): Promise<Array<{ day: string; users: number }>>;
  topEvents(from: string, to: string, limit: number): Promise<Array<{ event: string; count: number; users: number }>>;
  retention(from: string, to: string, days: number): Promise<Cohort[]>;
}

/**
 * The store cannot answer now (unreachable, restarting) and may soon: the one failure a store reports as
 * such; the API answers it with 503 and Retry-After. Anything else a store throws is a bug (500).
 */
export class StoreUnavailable extends Error {
  override name = "StoreUnavailable";
}
