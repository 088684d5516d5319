import { ConsumerEvents, type ConsumerMessages, type JsMsg } from "nats";
import { type ForwardDeps, forwardBatch, type Pending } from "./forward-batch.ts";
import { decodeForwarded } from "./forwarded-envelope.ts";
import type { DestinationSource } from "./provision.ts";

export interface WorkerDeps extends Omit<ForwardDeps, "signal"> {
  sources: readonly DestinationSource[];
  /** Only events of these names are forwarded; every event when absent. */
  events: ReadonlySet<string> | undefined;
  /** Requests to the vendor under way at once. */
  concurrency: number;
  /**
   * Messages each pull asks for. Every destination's pulls share one connection: ten destinations buffering 256
   * messages of 30 KB overflowed the server's 64 MiB per-connection limit (a slow consumer, redeliveries,
   * duplicates) in `pnpm bench`.
   */
  pullBatch: number;
  /** Every message held here tells JetStream it is being worked on well before this passes. */
  ackWaitMs: number;
  /** Reading stopped by itself (its consumer deleted, the pull failing): the forwarder starts it again. */
  onFailure: (reason: string) => void;
}

const heldKey = (msg: JsMsg) => `${msg.info.stream}.${msg.seq}`;

/**
 * One destination's delivery: reads its durable consumers (EVENTS and its replays), gathers what arrived in one
 * turn into requests of up to the vendor's batch size, and keeps at most `concurrency` requests under way.
 * Everything it holds, waiting or being delivered, is kept alive with `working()`: the server hands it no more
 * than its consumers' max_ack_pending, so that is the bound on what a slow or failing vendor can hold, and
 * nothing is redelivered (and sent twice) merely for waiting its turn.
 */
export class DestinationWorker {
  readonly #deps: WorkerDeps;
  readonly #buffer: Pending[] = [];
  /** The messages held here, buffered or being delivered, by stream and sequence. */
  readonly #held = new Map<string, JsMsg>();
  readonly #running = new Set<Promise<void>>();
  readonly #pulls: ConsumerMessages[] = [];
  readonly #reading: Promise<void>[] = [];
  // Aborts the pacer's waits, so a stop (pause, remove, shutdown) is not held up by `--rate`.
  readonly #stopped = new AbortController();
  #working: NodeJS.Timeout | undefined;

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    this.#working = setInterval(() => {
      for (const msg of this.#held.values()) msg.working();
    }, this.#deps.ackWaitMs / 3);
    for (const source of this.#deps.sources) {
      const consumer = await this.#deps.js.consumers.get(source.stream, source.consumer);
      const messages = await consumer.consume({ max_messages: this.#deps.pullBatch });
      this.#pulls.push(messages);
      void this.#watch(messages, source);
      this.#reading.push(
        this.#read(messages).then(
          () => this.#failed(`reading ${source.stream} ended`),
          (err: unknown) => this.#failed(`reading ${source.stream} failed: ${(err as Error).message}`),
        ),
      );
    }
  }

  /** Stops pulling, gives back (uncounted) what it holds and has not sent, and settles the requests under way. */
  async stop(): Promise<void> {
    if (this.#stopped.signal.aborted) return;
    this.#stopped.abort();
    await Promise.all(this.#pulls.map((messages) => messages.close()));
    await Promise.all(this.#reading);
    for (const item of this.#buffer.splice(0)) this.#release(item).nak();
    while (this.#running.size > 0) await Promise.all(this.#running);
    clearInterval(this.#working);
  }

  #failed(reason: string): void {
    if (!this.#stopped.signal.aborted) this.#deps.onFailure(reason);
  }

  /** A consumer deleted under it (a remove racing a restart, an operator's mistake) is not waited out in silence. */
  async #watch(messages: ConsumerMessages, source: DestinationSource): Promise<void> {
    for await (const status of await messages.status()) {
      if (status.type === ConsumerEvents.ConsumerDeleted || status.type === ConsumerEvents.ConsumerNotFound) {
        this.#failed(`its consumer on ${source.stream} is gone (${status.type})`);
      }
    }
  }

  async #read(messages: ConsumerMessages): Promise<void> {
    for await (const msg of messages) {
      if (this.#stopped.signal.aborted) {
        msg.nak();
        continue;
      }
      // nats-server 2.9 can deliver a message again while a copy is still held here (nats-server#5305, fixed in
      // 2.10; seen after a restart): the copy held is delivered and settled, which settles this one too.
      if (this.#held.has(heldKey(msg))) continue;
      this.#held.set(heldKey(msg), msg);
      this.#buffer.push(this.#pending(msg));
      // Messages delivered in the same turn go out together.
      if (this.#buffer.length === 1) setImmediate(() => this.#dispatch());
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

  /** Takes up to one vendor batch of events off the buffer per request, while fewer than `concurrency` run. */
  #dispatch(): void {
    const { concurrency, vendor } = this.#deps;
    while (!this.#stopped.signal.aborted && this.#buffer.length > 0 && this.#running.size < concurrency) {
      const batch: Pending[] = [];
      let events = 0;
      while (this.#buffer.length > 0) {
        const next = this.#buffer[0] as Pending;
        const count = "events" in next ? next.events.length : 1;
        if (batch.length > 0 && events + count > vendor.maxBatch) break;
        batch.push(this.#buffer.shift() as Pending);
        events += count;
      }
      const task = forwardBatch({ ...this.#deps, signal: this.#stopped.signal }, batch).finally(() => {
        for (const item of batch) this.#release(item);
        this.#running.delete(task);
        this.#dispatch();
      });
      this.#running.add(task);
    }
  }

  #release(item: Pending): JsMsg {
    this.#held.delete(heldKey(item.msg));
    return item.msg;
  }
}
