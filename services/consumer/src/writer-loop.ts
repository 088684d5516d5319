import type { Failure } from "@evpipe/db";
import { envelopeEventCount, type Logger } from "@evpipe/shared";
import type { ConsumerMessages, JsMsg } from "nats";
import type { WrittenBatch } from "./batch-writer.ts";

/** From the count header, so sizing a write parses nothing. */
const eventCount = (msg: JsMsg) => envelopeEventCount(msg.headers, msg.data.length);

export type ConsumerState = "starting" | "consuming" | "paused" | "stopped" | "stopping";

export interface ConsumerStatus {
  state: ConsumerState;
  ready: boolean;
  reason?: { kind: string; code: string; message: string };
}

export interface WriterLoopDeps {
  log: Logger;
  /** Starts a pull of at most `pullBatch` buffered messages. */
  pull: () => Promise<ConsumerMessages>;
  write: (batch: readonly JsMsg[]) => Promise<WrittenBatch>;
  /** Resolves once the database answers again; rejects while it does not. */
  probe: () => Promise<void>;
  probeIntervalMs: number;
  /** Writes under way at once; each holds one pool connection. */
  concurrency: number;
  pullBatch: number;
  /** Most events written in one statement and transaction, across messages. */
  maxWriteEvents: number;
  /** How long the first buffered message waits for others before a write that is not full starts. */
  writeLingerMs: number;
  /** Every message held here, buffered or being written, is kept alive with working() well before this passes. */
  ackWaitMs: number;
}

/**
 * The pull loop: reads the durable consumer with a bounded buffer, groups what arrived in one turn into
 * writes of at most maxWriteEvents events, runs at most `concurrency` writes at once, and pauses while the
 * database is unreachable (giving every message back uncounted) until a probe finds it again.
 * Every message it holds is kept alive with working(), so ack_wait can be short (a crashed consumer's messages
 * are taken over within seconds) and yet nothing is redelivered merely for a slow write or a wait for a writer.
 */
export class WriterLoop {
  readonly #deps: WriterLoopDeps;
  readonly #buffer: JsMsg[] = [];
  /** The events of the buffered messages, by their count headers. */
  #bufferedEvents = 0;
  /** The buffer's oldest message has waited writeLingerMs (a timer says so: no clock comparison to get wrong). */
  #lingered = false;
  #linger: NodeJS.Timeout | undefined;
  #dispatchScheduled = false;
  readonly #writing = new Set<Promise<void>>();
  /** Buffered or being written: taken when read, let go once settled or given back. */
  readonly #held = new Set<JsMsg>();
  #keepAlive: NodeJS.Timeout | undefined;
  #state: ConsumerState = "starting";
  #reason: ConsumerStatus["reason"];
  #messages: ConsumerMessages | undefined;
  #reading: Promise<void> | undefined;
  #probing: Promise<void> | undefined;
  // Wakes the reader waiting for room: a write ended, or pulling is stopping.
  #room = Promise.withResolvers<void>();

  constructor(deps: WriterLoopDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    this.#state = "consuming";
    // Three chances per ack_wait: one late tick (a busy event loop, a reconnecting client) costs nothing.
    this.#keepAlive = setInterval(() => {
      for (const msg of this.#held) msg.working();
    }, this.#deps.ackWaitMs / 3);
    await this.#startPulling();
  }

  status(): ConsumerStatus {
    return {
      state: this.#state,
      ready: this.#state === "consuming",
      ...(this.#reason ? { reason: this.#reason } : {}),
    };
  }

  /** Stops pulling, finishes the writes under way and gives the buffered messages back. */
  async stop(): Promise<void> {
    this.#state = "stopping";
    await this.#stopPulling();
    await this.#probing;
    while (this.#writing.size > 0) await Promise.all(this.#writing);
    clearInterval(this.#keepAlive);
  }

  async #read(messages: ConsumerMessages): Promise<void> {
    // While the reader waits for room the client goes on receiving what its last pull asked for (at most
    // pullBatch messages), out of reach of the keep-alive until read: each of those is touched as it is read.
    let queuedWhileWaiting = 0;
    for await (const msg of messages) {
      // Messages that arrive while not consuming go back at once rather than after ack_wait.
      if (this.#state !== "consuming") {
        msg.nak();
        continue;
      }
      this.#held.add(msg);
      this.#buffer.push(msg);
      this.#bufferedEvents += eventCount(msg);
      if (queuedWhileWaiting > 0) {
        queuedWhileWaiting--;
        msg.working();
      }
      if (this.#buffer.length === 1) this.#startLinger();
      // Messages delivered in the same turn are written together.
      if (!this.#dispatchScheduled && this.#writeWorthStarting()) {
        this.#dispatchScheduled = true;
        setImmediate(() => {
          this.#dispatchScheduled = false;
          this.#dispatch();
        });
      }
      // Every write busy and a full pull waiting: read no further until a write ends (no new pull is sent
      // meanwhile), then read on as messages leave the buffer.
      while (this.#state === "consuming" && this.#writing.size >= this.#deps.concurrency) {
        if (this.#buffer.length < this.#deps.pullBatch) break;
        await this.#room.promise;
        queuedWhileWaiting = messages.getPending();
      }
    }
  }

  #wake(): void {
    this.#room.resolve();
    this.#room = Promise.withResolvers<void>();
  }

  /**
   * Whether to start a write now: at once for a buffer that fills a write or the pull; otherwise only with no
   * write under way and once the oldest buffered message has waited writeLingerMs, so what trickles in meanwhile
   * goes out with it (group commit). At a low rate this makes one statement of many events instead of one per
   * message, each statement costing the database about as much as a hundred events do; at a high rate
   * `concurrency` full writes run at once, with no wait.
   */
  #writeWorthStarting(): boolean {
    if (this.#writing.size >= this.#deps.concurrency) return false;
    if (this.#bufferedEvents >= this.#deps.maxWriteEvents || this.#buffer.length >= this.#deps.pullBatch) return true;
    return this.#writing.size === 0 && this.#lingered;
  }

  /** The buffer was empty: its first message waits writeLingerMs at most, then a dispatch looks again. */
  #startLinger(): void {
    clearTimeout(this.#linger);
    this.#lingered = this.#deps.writeLingerMs <= 0;
    if (this.#lingered) return;
    this.#linger = setTimeout(() => {
      this.#lingered = true;
      this.#dispatch();
    }, this.#deps.writeLingerMs);
  }

  /** Takes messages off the buffer, up to maxWriteEvents events per write, while a write is worth starting. */
  #dispatch(): void {
    while (this.#state === "consuming" && this.#buffer.length > 0 && this.#writeWorthStarting()) {
      const batch: JsMsg[] = [];
      let events = 0;
      while (this.#buffer.length > 0) {
        const count = eventCount(this.#buffer[0] as JsMsg);
        if (batch.length > 0 && events + count > this.#deps.maxWriteEvents) break;
        batch.push(this.#buffer.shift() as JsMsg);
        events += count;
      }
      this.#bufferedEvents -= events;
      if (this.#buffer.length === 0) clearTimeout(this.#linger);
      const task = this.#writeAndSettle(batch)
        .catch((err: unknown) => this.#deps.log.error({ err }, "write failed unexpectedly"))
        .finally(() => {
          // Settled, or (after an unexpected failure) left to ack_wait: either way no longer kept alive.
          for (const msg of batch) this.#held.delete(msg);
          this.#writing.delete(task);
          this.#wake();
          this.#dispatch();
        });
      this.#writing.add(task);
    }
  }

  async #writeAndSettle(batch: JsMsg[]): Promise<void> {
    const written = await this.#deps.write(batch);
    if (written.outcome.kind === "halted") await this.#halt(written.outcome.failure, batch.length);
    await written.settle();
  }

  async #startPulling(): Promise<void> {
    const messages = await this.#deps.pull();
    this.#messages = messages;
    this.#reading = this.#read(messages).catch((err: unknown) =>
      this.#deps.log.error({ err }, "pulling stopped unexpectedly"),
    );
  }

  async #stopPulling(): Promise<void> {
    // Taken together before waiting: a resume meanwhile starts a pull of its own, which this must not wait on.
    const [messages, reading] = [this.#messages, this.#reading];
    this.#messages = undefined;
    await messages?.close();
    this.#wake();
    await reading;
    if (this.#state === "consuming") return;
    this.#bufferedEvents = 0;
    clearTimeout(this.#linger);
    for (const msg of this.#buffer.splice(0)) {
      this.#held.delete(msg);
      msg.nak();
    }
  }

  /** Resolves once pulling has stopped, so the messages of the halted write can be given back safely. */
  async #halt(failure: Failure, returnedCount: number): Promise<void> {
    if (failure.kind === "transient" || this.#state === "stopped" || this.#state === "stopping") return;
    const log = { errorCode: failure.code, error: failure.message, returnedCount };
    if (failure.kind === "outage") {
      if (this.#state === "consuming") {
        this.#state = "paused";
        this.#reason = { kind: failure.kind, code: failure.code, message: failure.message };
        this.#deps.log.warn({ outcome: "paused", ...log }, "database unavailable, paused");
        this.#probing = this.#probeUntilBack();
      }
      await this.#stopPulling();
      return;
    }
    this.#state = "stopped";
    this.#reason = { kind: failure.kind, code: failure.code, message: failure.message };
    this.#deps.log.fatal(
      { outcome: "stopped", ...log },
      "consumer stopped: this needs a fix in the code or the database, not a retry; messages are kept",
    );
    await this.#stopPulling();
  }

  /** One loop per pause: it ends once pulling has resumed; a later outage starts a new one. */
  async #probeUntilBack(): Promise<void> {
    const started = Date.now();
    while (this.#state === "paused") {
      await new Promise((resolve) => setTimeout(resolve, this.#deps.probeIntervalMs));
      if (this.#state !== "paused") return;
      try {
        await this.#deps.probe();
      } catch (err) {
        this.#deps.log.debug({ err }, "database still unavailable");
        continue;
      }
      // Stopped or stopping while the probe ran: nothing to resume.
      if (this.#state !== "paused") return;
      // Consuming before pulling: a message delivered in between must not be given back.
      this.#state = "consuming";
      try {
        await this.#startPulling();
      } catch (err) {
        if (this.#state !== "consuming") return;
        this.#state = "paused";
        this.#deps.log.error({ err }, "could not resume pulling; retrying");
        continue;
      }
      this.#reason = undefined;
      this.#deps.log.info({ outcome: "resumed", pausedMs: Date.now() - started }, "database back, resuming");
      return;
    }
  }
}
