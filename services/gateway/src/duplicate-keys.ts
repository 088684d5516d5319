/**
 * The first key that appears twice in one object of a JSON text, or undefined. JSON.parse silently keeps the
 * last of duplicate keys, so `{"user_id": "a", "user_id": "b"}` would mean different things to different
 * parsers; we refuse it. Expects text JSON.parse has accepted; walks it with an explicit stack.
 */
export function findDuplicateKey(text: string): string | undefined {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const stack: Array<Set<string> | null> = [];
  let expectingKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === 0x22 /* " */) {
      let end = i + 1;
      let escaped = false;
      for (; end < text.length; end++) {
        const c = text.charCodeAt(end);
        if (c === 0x5c /* \ */) {
          escaped = true;
          end++;
        } else if (c === 0x22) break;
      }
      const top = stack[stack.length - 1];
      if (expectingKey && top) {
        const raw = text.slice(i + 1, end);
        const key = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        if (top.has(key)) return key;
        top.add(key);
        expectingKey = false;
      }
      i = end;
    } else if (char === 0x7b /* { */) {
      stack.push(new Set());
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
