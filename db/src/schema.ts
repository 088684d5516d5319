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

export interface Database {
  events: EventsTable;
}
