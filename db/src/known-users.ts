import { LRUCache } from "lru-cache";

/** A user's row in `users` as a writer last saw it committed. */
export interface KnownUser {
  userNo: number;
  firstDay: string;
}

/**
 * What one writer remembers of `users`, so the common write (users seen before, no earlier day) needs no
 * lookup. Safe to cache: a user's number never changes and the first-seen day only moves earlier, so a
 * remembered day is never earlier than the stored one, and the write only ever skips an update that would
 * change nothing (ADR §17). Bounded: the least recently seen users are forgotten first.
 */
export class KnownUsers {
  readonly #users: LRUCache<string, KnownUser>;

  // About 200 bytes an entry: 40 MB at most by default.
  constructor(capacity = 200_000) {
    this.#users = new LRUCache({ max: capacity });
  }

  get(userId: string): KnownUser | undefined {
    return this.#users.get(userId);
  }

  remember(userId: string, user: KnownUser): void {
    this.#users.set(userId, user);
  }
}
