import type { EventType } from "@evpipe/shared";
import type { ColumnType } from "kysely";

type Timestamp = ColumnType<Date, Date | string, never>;

export interface EventsTable {
  id: ColumnType<string, string, never>;
  event: string;
  user_id: string;
  occurred_at: Timestamp;
  received_at: Timestamp;
  stored_at: ColumnType<Date, Date | string | undefined, never>;
  metadata: ColumnType<unknown, string | null, never>;
  request_id: string;
  key_id: string;
  /** The Segment call type; `track` for the events of our own API. */
  type: ColumnType<EventType, EventType | undefined, never>;
  anonymous_id: string | null;
}

/** A UTC day as PostgreSQL's date type, read as 'YYYY-MM-DD' (see the type parser in connection.ts). */
type Day = ColumnType<string, string, string>;
type Count = ColumnType<string, number | string, number | string>;

export interface Database {
  events: EventsTable;
  /** Each user's dense number (the bit in the bitmaps below, ADR §17) and first-seen UTC day. */
  users: { user_id: string; user_no: ColumnType<number, never, never>; first_day: Day };
  daily_user_bits: { day: Day; chunk: number; users: string };
  daily_event_user_bits: { event: string; day: Day; chunk: number; users: string };
  daily_event_counts: { day: Day; event: string; events: Count };
  weekly_event_user_bits: { event: string; week: Day; chunk: number; users: string };
  compacted_weeks: { week: Day; compacted_at: ColumnType<Date, Date | string | undefined, never> };
}
