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
}

/** A UTC day as PostgreSQL's date type, read as 'YYYY-MM-DD' (see the type parser in connection.ts). */
type Day = ColumnType<string, string, string>;
type Count = ColumnType<string, number | string, number | string>;

export interface Database {
  events: EventsTable;
  daily_user_activity: { user_id: string; day: Day };
  daily_active_users: { day: Day; users: Count };
  daily_event_users: { event: string; day: Day; user_id: string };
  daily_event_counts: { day: Day; event: string; events: Count; users: Count };
  user_first_seen: { user_id: string; first_day: Day };
}
