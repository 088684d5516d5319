/** The kinds of call of the Segment spec; an event of our own API is a `track`. No imports: the browser bundle uses it. */
export const eventTypes = ["track", "identify", "page", "screen", "group", "alias"] as const;
export type EventType = (typeof eventTypes)[number];
