import { closingQuote } from "@evpipe/shared";

/** Objects with more keys than this switch from a list (cheapest for the few keys of an event) to a Set. */
const listedKeys = 16;

/** The keys seen so far in one open object. */
type SeenKeys = string[] | Set<string>;

/**
 * The first key that appears twice in one object of a JSON text, or undefined. JSON.parse silently keeps the
 * last of duplicate keys, so `{"user_id": "a", "user_id": "b"}` would mean different things to different
 * parsers; we refuse it. Expects text JSON.parse has accepted; walks it with an explicit stack, skipping the
 * inside of strings with indexOf.
 */
export function findDuplicateKey(text: string): string | undefined {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const stack: Array<SeenKeys | null> = [];
  let expectingKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === 0x22 /* " */) {
      const end = closingQuote(text, i);
      if (end < 0) return undefined;
      const top = stack[stack.length - 1];
      if (expectingKey && top) {
        const raw = text.slice(i + 1, end);
        const key = raw.includes("\\") ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        if (!remember(stack, top, key)) return key;
        expectingKey = false;
      }
      i = end;
    } else if (char === 0x7b /* { */) {
      stack.push([]);
      expectingKey = true;
    } else if (char === 0x5b /* [ */) {
      stack.push(null);
      expectingKey = false;
    } else if (char === 0x7d /* } */ || char === 0x5d /* ] */) {
      stack.pop();
      expectingKey = false;
    } else if (char === 0x2c /* , */) {
      expectingKey = stack[stack.length - 1] !== null && stack.length > 0;
    }
  }
  return undefined;
}

/** Adds the key to the innermost object's keys; false when it was there already. */
function remember(stack: Array<SeenKeys | null>, seen: SeenKeys, key: string): boolean {
  if (!Array.isArray(seen)) {
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }
  if (seen.includes(key)) return false;
  if (seen.length < listedKeys) seen.push(key);
  else stack[stack.length - 1] = new Set([...seen, key]);
  return true;
}
