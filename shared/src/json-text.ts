/** Parses a JSON text received from a client or from the bus. */
export function parseJsonText(text: string): unknown {
  return JSON.parse(text);
}
