import type { ConsumerMessages, JsMsg } from "nats";
import { type ForwardDeps, forwardBatch, type Pending } from "./forward-batch.ts";
import { decodeForwarded } from "./forwarded-envelope.ts";
import type { DestinationSource } from "./provision.ts";

export interface WorkerDeps extends ForwardDeps {
  sources: readonly DestinationSource[];
  /** Only events of these names are forwarded; every event when absent. */
  events: ReadonlySet<string> | undefined;
  /** Requests to the vendor under way at once. */
  concurrency: number;
  /**
   * Messages the client keeps buffered per source ahead of delivery. Every destination's pulls share one
   * connection: ten destinations buffering 256 messages of 30 KB overflowed the server's 64 MiB per-connection
   * limit (a slow consumer, redeliveries, duplicates) in `pnpm bench`.
   */
  pullBatch: number;
  /** Long deliveries tell JetStream they are still working well before this passes. */
  ackWaitMs: number;
}

/**
 * One destination's delivery: reads its durable consumers (EVENTS and its replays), gathers what arrived in one
 * turn into requests of up to the vendor's batch size, and keeps at most `concurrency` requests under way. A
 * vendor that is slow or down holds only this destination's messages, never more than its consumer's
 * max_ack_pending, and never anyone else's.
 */
export class DestinationWorker {
  readonly #deps: WorkerDeps;
  readonly #buffer: Pending[] = [];
  /** The stream sequences this worker holds (buffered or being delivered), by stream. */
  readonly #held = new Set<string>();
  #bufferedEvents = 0;
  readonly #running = new Set<Promise<void>>();
  readonly #pulls: ConsumerMessages[] = [];
  readonly #reading: Promise<void>[] = [];
  #stopping = false;
  // Wakes the reader waiting for room: a batch was settled, or the worker is stopping.
  #room = Promise.withResolvers<void>();

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    for (const source of this.#deps.sources) {
      const consumer = await this.#deps.js.consumers.get(source.stream, source.consumer);
      const messages = await consumer.consume({ max_messages: this.#deps.pullBatch });
      this.#pulls.push(messages);
      this.#reading.push(
        this.#read(messages).catch((err: unknown) =>
          this.#deps.log.error({ err, destination: this.#deps.destination }, "pulling stopped unexpectedly"),
        ),
      );
    }
  }

  /** Stops pulling, settles the requests under way and gives the buffered messages back (uncounted). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#pulls.map((messages) => messages.close()));
    this.#wake();
    await Promise.all(this.#reading);
    for (const item of this.#buffer.splice(0)) this.#release(item).nak();
    while (this.#running.size > 0) await Promise.all(this.#running);
  }

  async #read(messages: ConsumerMessages): Promise<void> {
    const { concurrency, vendor } = this.#deps;
    for await (const msg of messages) {
      if (this.#stopping) {
        msg.nak();
        continue;
      }
      // nats-server 2.9 can deliver a message again while a copy is still held here (nats-server#5305, fixed in
      // 2.10; seen after a restart): the copy held is delivered and settled, which settles this one too.
      const held = `${msg.info.stream}.${msg.seq}`;
      if (this.#held.has(held)) continue;
      this.#held.add(held);
      const item = this.#pending(msg);
      this.#buffer.push(item);
      this.#bufferedEvents += "events" in item ? item.events.length : 1;
      // Messages delivered in the same turn go out together.
      if (this.#buffer.length === 1) setImmediate(() => this.#dispatch());
      // Every request busy and a full batch waiting: read no further until one is settled.
      while (!this.#stopping && this.#running.size >= concurrency && this.#bufferedEvents >= vendor.maxBatch) {
        await this.#room.promise;
      }
    }
  }

  #pending(msg: JsMsg): Pending {
    try {
      const events = decodeForwarded(msg.data);
      const wanted = this.#deps.events;
      const eventBytes = Math.ceil(msg.data.length / events.length);
      return { msg, events: wanted ? events.filter((event) => wanted.has(event.event)) : events, eventBytes };
    } catch (err) {
      return { msg, unreadable: err instanceof Error ? err.message : String(err) };
    }
  }

  #wake(): void {
    this.#room.resolve();
    this.#room = Promise.withResolvers<void>();
  }

  /** Takes up to one vendor batch of events off the buffer per request, while fewer than `concurrency` run. */
  #dispatch(): void {
    const { concurrency, vendor } = this.#deps;
    while (!this.#stopping && this.#buffer.length > 0 && this.#running.size < concurrency) {
      const batch: Pending[] = [];
      let events = 0;
      while (this.#buffer.length > 0) {
        const next = this.#buffer[0] as Pending;
        const count = "events" in next ? next.events.length : 1;
        if (batch.length > 0 && events + count > vendor.maxBatch) break;
        batch.push(this.#buffer.shift() as Pending);
        events += count;
      }
      this.#bufferedEvents -= events;
      const task = this.#forward(batch).finally(() => {
        this.#running.delete(task);
        this.#wake();
        this.#dispatch();
      });
      this.#running.add(task);
    }
  }

  async #forward(batch: Pending[]): Promise<void> {
    // A request that waits on the rate limit or a slow vendor must not have its messages redelivered meanwhile.
    const working = setInterval(() => {
      for (const item of batch) item.msg.working();
    }, this.#deps.ackWaitMs / 3);
    try {
      await forwardBatch(this.#deps, batch);
    } finally {
      clearInterval(working);
      for (const item of batch) this.#release(item);
    }
  }

  #release(item: Pending): JsMsg {
    this.#held.delete(`${item.msg.info.stream}.${item.msg.seq}`);
    return item.msg;
  }
}
