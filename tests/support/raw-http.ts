import net from "node:net";

/** The head of a hand-written POST /v1/events announcing a JSON body of `length` bytes, whether sent or not. */
export function rawEventsHead(key: string, length: number): string {
  return (
    `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: ${key}\r\n` +
    `Content-Length: ${length}\r\n\r\n`
  );
}

/**
 * Writes raw bytes to the server at `baseUrl` and collects whatever comes back until the server closes
 * (`closedAfterMs` says when) or `waitMs` passes (then `closedAfterMs` is undefined).
 */
export function rawExchange(
  baseUrl: string,
  request: string,
  waitMs: number,
): Promise<{ response: string; closedAfterMs: number | undefined }> {
  const { port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: "127.0.0.1", port: Number(port) });
    let response = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ response, closedAfterMs: undefined });
    }, waitMs);
    socket.on("data", (chunk) => {
      response += chunk.toString();
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ response, closedAfterMs: performance.now() - started });
    });
    socket.on("error", () => undefined);
    socket.write(request);
  });
}
