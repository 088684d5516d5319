import { type DestinationStatus, type Logger, noDestinationStatus, parseDestinationStatus } from "@evpipe/shared";
import type { KV } from "nats";

/**
 * Each destination's counts and last success or error, kept in memory as deliveries happen (no I/O per
 * message) and written to the status bucket every few seconds when changed, for `destinations list`. Counts
 * continue from what the bucket held when the destination started, across forwarder restarts.
 */
export class StatusBoard {
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #entries = new Map<string, { status: DestinationStatus; changed: boolean }>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(kv: KV, log: Logger) {
    this.#kv = kv;
    this.#log = log;
  }

  async track(name: string): Promise<void> {
    if (this.#entries.has(name)) return;
    const entry = await this.#kv.get(name).catch(() => null);
    let status = noDestinationStatus(new Date());
    if (entry?.operation === "PUT") {
      try {
        status = parseDestinationStatus(entry.value);
      } catch (err) {
        this.#log.warn({ err, destination: name }, "unreadable destination status, counting from zero");
      }
    }
    this.#entries.set(name, { status, changed: false });
  }

  delivered(name: string, events: number): void {
    this.#change(name, (status) => {
      status.delivered += events;
      status.last_success_at = new Date().toISOString();
    });
  }

  failed(name: string, events: number, message: string): void {
    this.#change(name, (status) => {
      status.failed += events;
      status.last_error = { at: new Date().toISOString(), message };
    });
  }

  retried(name: string, message: string): void {
    this.#change(name, (status) => {
      status.retried += 1;
      status.last_error = { at: new Date().toISOString(), message };
    });
  }

  /** A removed destination: its status goes with it. */
  async forget(name: string): Promise<void> {
    this.#entries.delete(name);
    await this.#kv.delete(name).catch(() => undefined);
  }

  start(intervalMs: number): void {
    let busy = false;
    this.#timer = setInterval(() => {
      // A slow NATS: skip the tick rather than queue writes behind it.
      if (busy) return;
      busy = true;
      this.#flushing = this.flush().finally(() => {
        busy = false;
      });
    }, intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flushing;
    await this.flush();
  }

  async flush(): Promise<void> {
    for (const [name, entry] of this.#entries) {
      if (!entry.changed) continue;
      entry.changed = false;
      entry.status.updated_at = new Date().toISOString();
      await this.#kv.put(name, JSON.stringify(entry.status)).catch((err: unknown) => {
        entry.changed = true;
        this.#log.warn({ err, destination: name }, "could not write the destination's status; will retry");
      });
    }
  }

  #change(name: string, apply: (status: DestinationStatus) => void): void {
    const entry = this.#entries.get(name);
    if (!entry) return;
    apply(entry.status);
    entry.changed = true;
  }
}
