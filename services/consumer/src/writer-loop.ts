import type { Failure } from "@evpipe/db";
import type { Logger } from "@evpipe/shared";
import type { ConsumerMessages, JsMsg } from "nats";
import type { WrittenBatch } from "./batch-writer.ts";

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
}

/**
 * The pull loop: reads the durable consumer with a bounded buffer, groups what arrived in one turn into
 * writes of at most maxWriteEvents events, runs at most `concurrency` writes at once, and pauses while the
 * database is unreachable (giving every message back uncounted) until a probe finds it again.
 */
export function createWriterLoop(deps: WriterLoopDeps) {
  const buffer: JsMsg[] = [];
  const writing = new Set<Promise<void>>();
  let state: ConsumerState = "starting";
  let reason: ConsumerStatus["reason"];
  let messages: ConsumerMessages | undefined;
  let reading: Promise<void> | undefined;
  // Wakes the reader waiting for room: a write ended, or pulling is stopping.
  let room = Promise.withResolvers<void>();
  const wake = () => {
    room.resolve();
    room = Promise.withResolvers<void>();
  };

  async function writeAndSettle(batch: JsMsg[]): Promise<void> {
    const written = await deps.write(batch);
    if (written.outcome.kind === "halted") await halt(written.outcome.failure, batch.length);
    await written.settle();
  }

  function dispatch(): void {
    while (state === "consuming" && buffer.length > 0 && writing.size < deps.concurrency) {
      const batch: JsMsg[] = [];
      let events = 0;
      while (buffer.length > 0) {
        const next = buffer[0] as JsMsg;
        // Estimated from the size (about 200 bytes an event) to avoid parsing twice.
        const estimate = Math.max(1, Math.round(next.data.length / 200));
        if (batch.length > 0 && events + estimate > deps.maxWriteEvents) break;
        batch.push(buffer.shift() as JsMsg);
        events += estimate;
      }
      const task = writeAndSettle(batch)
        .catch((err: unknown) => deps.log.error({ err }, "write failed unexpectedly"))
        .finally(() => {
          writing.delete(task);
          wake();
          dispatch();
        });
      writing.add(task);
    }
  }

  async function read(current: ConsumerMessages): Promise<void> {
    for await (const msg of current) {
      // Messages that arrive while not consuming go back at once rather than after ack_wait.
      if (state !== "consuming") {
        msg.nak();
        continue;
      }
      buffer.push(msg);
      // Messages delivered in the same turn are written together.
      if (buffer.length === 1) setImmediate(dispatch);
      // Every write busy and a full pull waiting: read no further until a write ends.
      while (state === "consuming" && writing.size >= deps.concurrency && buffer.length >= deps.pullBatch) {
        await room.promise;
      }
    }
  }

  async function startPulling(): Promise<void> {
    const current = await deps.pull();
    messages = current;
    reading = read(current).catch((err: unknown) => deps.log.error({ err }, "pulling stopped unexpectedly"));
  }

  async function stopPulling(): Promise<void> {
    const current = messages;
    messages = undefined;
    await current?.close();
    wake();
    await reading;
    for (const msg of buffer.splice(0)) msg.nak();
  }

  /** Resolves once pulling has stopped, so the messages of the halted write can be given back safely. */
  async function halt(failure: Failure, returnedCount: number): Promise<void> {
    if (failure.kind === "transient") return;
    if (state === "stopped" || state === "stopping") return;
    if (failure.kind === "outage") {
      if (state === "consuming") {
        state = "paused";
        reason = { kind: failure.kind, code: failure.code, message: failure.message };
        deps.log.warn(
          { outcome: "paused", errorCode: failure.code, error: failure.message, returnedCount },
          "database unavailable, paused",
        );
        void probeUntilBack();
      }
      await stopPulling();
      return;
    }
    state = "stopped";
    reason = { kind: failure.kind, code: failure.code, message: failure.message };
    deps.log.fatal(
      { outcome: "stopped", errorCode: failure.code, error: failure.message, returnedCount },
      "consumer stopped: this needs a fix in the code or the database, not a retry; messages are kept",
    );
    await stopPulling();
  }

  /** One loop per pause: it ends once pulling has resumed; a later outage starts a new one. */
  async function probeUntilBack(): Promise<void> {
    const started = Date.now();
    while (state === "paused") {
      await new Promise((resolve) => setTimeout(resolve, deps.probeIntervalMs));
      if (state !== "paused") return;
      try {
        await deps.probe();
      } catch (err) {
        deps.log.debug({ err }, "database still unavailable");
        continue;
      }
      // Consuming before pulling: a message delivered in between must not be given back.
      state = "consuming";
      try {
        await startPulling();
      } catch (err) {
        state = "paused";
        deps.log.error({ err }, "could not resume pulling; retrying");
        continue;
      }
      reason = undefined;
      deps.log.info({ outcome: "resumed", pausedMs: Date.now() - started }, "database back, resuming");
      return;
    }
  }

  return {
    async start(): Promise<void> {
      state = "consuming";
      await startPulling();
    },
    status(): ConsumerStatus {
      return { state, ready: state === "consuming", ...(reason ? { reason } : {}) };
    },
    /** Stops pulling, finishes the writes under way and gives the buffered messages back. */
    async stop(): Promise<void> {
      state = "stopping";
      await stopPulling();
      while (writing.size > 0) await Promise.all(writing);
    },
  };
}
