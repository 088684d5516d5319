import http from "node:http";
import type { AddressInfo } from "node:net";

// The destinations benchmark's webhook receiver, run as a process of its own (`node destination-sink.ts`) so
// its CPU is measured apart from the forwarder's and the load generator's. It answers every POST /d/<name> 200
// as soon as the body has arrived, then counts the body's events and their distinct ids for <name>; GET /counts
// reports them, DELETE /d/<name> forgets them. It prints {"port": N} on stdout once listening.

/** What one destination received, times in ms since the epoch. */
export interface SinkCount {
  requests: number;
  events: number;
  /** Distinct event ids: below `events` when some were delivered more than once (at least once, PRODUCT.md §7). */
  distinct: number;
  firstAt: number;
  lastAt: number;
  /** Requests whose body was not a webhook batch: counted, never taken for events. */
  unreadable: number;
}

const counts = new Map<string, SinkCount>();
const seen = new Map<string, Set<string>>();

function record(name: string, body: string): void {
  const now = Date.now();
  const count = counts.get(name) ?? { requests: 0, events: 0, distinct: 0, firstAt: now, lastAt: now, unreadable: 0 };
  const ids = seen.get(name) ?? new Set<string>();
  counts.set(name, count);
  seen.set(name, ids);
  count.requests++;
  count.lastAt = now;
  try {
    const events = (JSON.parse(body) as { events?: unknown }).events;
    if (!Array.isArray(events)) throw new Error("no events array");
    for (const event of events as Array<{ id?: unknown }>) ids.add(String(event.id));
    count.events += events.length;
    count.distinct = ids.size;
  } catch {
    count.unreadable++;
  }
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/counts") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(Object.fromEntries(counts)));
    return;
  }
  const name = /^\/d\/([a-z0-9-]+)$/.exec(req.url ?? "")?.[1];
  if (req.method === "DELETE" && name) {
    counts.delete(name);
    seen.delete(name);
    res.writeHead(204).end();
    return;
  }
  if (req.method !== "POST" || !name) {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    // Counted in the same turn as the answer, so a /counts read after the forwarder saw the 200 includes it.
    record(name, Buffer.concat(chunks).toString("utf8"));
  });
});
// Longer than the forwarder's fetch keeps an idle connection, so the sink never closes one under it.
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.once("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
