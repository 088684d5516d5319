import { type RawBuilder, sql } from "kysely";

// User n is bit (n & 8191) of chunk (n >> 13): 8192 bits a row, the most PostgreSQL keeps inline (ADR §17).

/** The chunk of user numbers a user number falls in. */
export const chunkOf = (userNo: RawBuilder<unknown>) => sql<number>`(${userNo}) >> 13`;

/** A user number's bit within its chunk. */
export const bitOf = (userNo: RawBuilder<unknown>) => sql<number>`(${userNo}) & 8191`;

/** A chunk with no user in it. */
export const noUsers = sql`B'0'::bit(8192)`;

/** The bitmap of the users numbered in a group: an aggregate. */
export const usersBitmap = (userNo: RawBuilder<unknown>) =>
  sql<string>`bit_or(set_bit(${noUsers}, ${bitOf(userNo)}, 1))`;

/** The Monday that starts a UTC day's ISO week: the key of the weekly bitmaps. */
export const weekOf = (day: RawBuilder<unknown>) => sql<string>`date_trunc('week', (${day})::timestamp)::date`;
