import type { EnvelopeEvent, IngestEvent } from "@evpipe/shared";
import { v7 as uuidv7 } from "uuid";
import type { LoadBody } from "./load.ts";
import { describeRealistic, RealisticEvents, type RealisticParams } from "./realistic-workload.ts";
import type { BenchSettings } from "./settings.ts";

const eventNames = ["page_view", "search", "add_to_cart", "checkout", "signup"];
const paths = ["/", "/pricing", "/docs/getting-started", "/blog/2026/11/launch", "/account/settings"];

/**
 * A typical small event: half carry a client timestamp, all a little metadata. No id, so the gateway
 * assigns a fresh UUIDv7 to every event of every request and a constant body never repeats an event.
 */
export function sampleEvent(index: number): IngestEvent {
  const event: IngestEvent = {
    event: eventNames[index % eventNames.length] as string,
    user_id: `user-${(index * 7919) % 50_000}`,
    metadata: { path: paths[index % paths.length], plan: index % 3 === 0 ? "pro" : "free", position: index },
  };
  if (index % 2 === 0) event.client_ts = new Date(Date.now() - 60_000 - index * 1000).toISOString();
  return event;
}

export function batchBody(size: number): string {
  return JSON.stringify({ events: Array.from({ length: size }, (_, index) => sampleEvent(index)) });
}

export function singleBody(): string {
  return JSON.stringify(sampleEvent(0));
}

/** What the gateway would publish for one request of `size` repeated-body events, ready for insertEvents. */
function repeatedEnvelopeBatch(size: number): EnvelopeEvent[] {
  const receivedAt = new Date().toISOString();
  const requestId = uuidv7();
  return Array.from({ length: size }, (_, index) => ({
    ...sampleEvent(index),
    id: uuidv7(),
    received_at: receivedAt,
    request_id: requestId,
    key_id: "bench",
  }));
}

/**
 * What the load sends and the direct writes store. Each call starts a sequence of its own from the same seed,
 * so the end-to-end load and the direct writes draw the same events (with other ids).
 */
export interface Workload {
  name: "realistic" | "repeated";
  /** One line for the report. */
  description: string;
  batchBodies(size: number): LoadBody;
  singleBodies(): LoadBody;
  envelopeBatches(size: number): () => EnvelopeEvent[];
}

/** The cheap case: one constant body, the same 100 users and 5 names, so every rollup row exists after one request. */
export const repeatedWorkload: Workload = {
  name: "repeated",
  description:
    "repeated: one constant body sent again and again (the gateway gives each event a fresh id), " +
    "5 event names, 100 users per batch, after the first request every rollup row exists",
  batchBodies: (size) => batchBody(size),
  singleBodies: () => singleBody(),
  envelopeBatches: (size) => () => repeatedEnvelopeBatch(size),
};

export function realisticWorkload(params: RealisticParams): Workload {
  return {
    name: "realistic",
    description: describeRealistic(params),
    batchBodies(size) {
      const events = new RealisticEvents(params);
      return () => events.batchBody(size);
    },
    singleBodies() {
      const events = new RealisticEvents(params);
      return () => events.json(events.draw(Date.now()));
    },
    envelopeBatches(size) {
      const events = new RealisticEvents(params);
      return () => events.envelopeBatch(size);
    },
  };
}

/** BENCH_WORKLOAD's workload. */
export function benchWorkload(settings: Pick<BenchSettings, "workload" | "realistic">): Workload {
  return settings.workload === "realistic" ? realisticWorkload(settings.realistic) : repeatedWorkload;
}
