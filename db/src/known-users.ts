import { LRUCache } from "lru-cache";

/** A user's row in `users` as a writer last saw it committed. */
export interface KnownUser {
  userNo: number;
  firstDay: string;
}

/** An entry's heap cost: the map slot, the value object and its day, and the key (two bytes a char at worst). */
function entryBytes(_user: KnownUser, userId: string): number {
  return 150 + 2 * userId.length;
}

/**
 * What one writer remembers of `users`, so the common write (users seen before, no earlier day) needs no
 * lookup. Safe to cache: a user's number never changes and the first-seen day only moves earlier, so a
 * remembered day is never earlier than the stored one, and the write only ever skips an update that would
 * change nothing (ADR §17). Bounded: the least recently seen users are forgotten first.
 */
export class KnownUsers {
  readonly #users: LRUCache<string, KnownUser>;

  // Measured at 165-180 bytes an entry for 17-character ids (18 MB per 100,000 users); a long id (up to
  // MAX_TEXT_CHARS) costs more, so the bytes are capped too: with short ids the count binds first.
  constructor(capacity = 200_000, maxBytes = 40 * 1024 ** 2) {
    this.#users = new LRUCache({ max: capacity, maxSize: maxBytes, sizeCalculation: entryBytes });
  }

  get(userId: string): KnownUser | undefined {
    return this.#users.get(userId);
  }

  remember(userId: string, user: KnownUser): void {
    this.#users.set(userId, user);
  }
}
