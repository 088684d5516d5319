import http from "node:http";
import type net from "node:net";
import { uniqueId } from "./pipeline.ts";

/** One request as a keep-alive client lived it. */
export interface Exchange {
  requestId: string;
  status: number | undefined;
  headers: Headers;
  body: string;
  /** Which pooled socket carried it: the same number means the connection was reused. */
  socket: number;
  /** What the client saw, in order: "body sent", "response", "error <code>". */
  events: string[];
}

export interface KeepAliveClient {
  /**
   * One POST through the client's single pooled socket. The body goes out chunk by chunk (chunked encoding, no
   * Content-Length); with `expectContinue` only after the server's `100 Continue`, that is after the server has
   * seen the headers and already decided, so the body is certainly still in flight when it answers.
   */
  post(
    path: string,
    headers: Record<string, string>,
    chunks: Buffer[],
    options?: { expectContinue?: boolean },
  ): Promise<Exchange>;
  destroy(): void;
}

function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off("drain", done).off("close", done);
      resolve();
    };
    req.once("drain", done).once("close", done);
  });
}

async function writeChunks(req: http.ClientRequest, chunks: Buffer[]) {
  for (const part of chunks) {
    if (req.destroyed) return;
    if (!req.write(part)) await drained(req);
  }
  req.end();
}

/** A client holding at most one socket open between requests, each request with a fresh `requestIdPrefix` id. */
export function createKeepAliveClient(baseUrl: string, requestIdPrefix: string): KeepAliveClient {
  const { port } = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const socketIds = new WeakMap<net.Socket, number>();
  let socketCount = 0;

  const post: KeepAliveClient["post"] = (path, headers, chunks, options = {}) =>
    new Promise((resolve) => {
      const requestId = uniqueId(requestIdPrefix);
      const exchange: Exchange = {
        requestId,
        status: undefined,
        headers: new Headers(),
        body: "",
        socket: 0,
        events: [],
      };
      const req = http.request({
        host: "127.0.0.1",
        port: Number(port),
        path,
        method: "POST",
        agent,
        headers: {
          ...headers,
          "x-request-id": requestId,
          ...(options.expectContinue ? { expect: "100-continue" } : {}),
        },
      });
      req.on("socket", (socket) => {
        if (!socketIds.has(socket)) socketIds.set(socket, ++socketCount);
        exchange.socket = socketIds.get(socket) ?? 0;
      });
      req.on("response", (res) => {
        exchange.events.push("response");
        exchange.status = res.statusCode;
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          exchange.headers.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
        }
        res.setEncoding("utf8").on("data", (text: string) => {
          exchange.body += text;
        });
      });
      req.on("finish", () => exchange.events.push("body sent"));
      req.on("error", (err: NodeJS.ErrnoException) => exchange.events.push(`error ${err.code}`));
      req.on("close", () => resolve(exchange));

      if (options.expectContinue) {
        req.flushHeaders();
        req.once("continue", () => void writeChunks(req, chunks));
      } else {
        void writeChunks(req, chunks);
      }
    });

  return { post, destroy: () => agent.destroy() };
}
