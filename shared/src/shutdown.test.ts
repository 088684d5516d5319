import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { installShutdown } from "./shutdown.ts";

function harness(close: () => Promise<void>, timeoutMs = 1000) {
  const listeners = new Map<string, () => void>();
  const exits: number[] = [];
  installShutdown({
    log: pino({ level: "silent" }),
    timeoutMs,
    close,
    on: (signal, listener) => listeners.set(signal, listener),
    exit: (code) => exits.push(code),
  });
  return { signal: (name: string) => listeners.get(name)?.(), exits };
}

describe("graceful shutdown", () => {
  it("runs close once on SIGTERM and exits 0 when it finishes", async () => {
    const close = vi.fn(async () => {});
    const { signal, exits } = harness(close);
    signal("SIGTERM");
    await vi.waitFor(() => expect(exits).toEqual([0]));
    expect(close).toHaveBeenCalledTimes(1);
  });

  it("listens to SIGINT too", async () => {
    const { signal, exits } = harness(async () => {});
    signal("SIGINT");
    await vi.waitFor(() => expect(exits).toEqual([0]));
  });

  it("exits 1 when close fails", async () => {
    const { signal, exits } = harness(async () => {
      throw new Error("drain failed");
    });
    signal("SIGTERM");
    await vi.waitFor(() => expect(exits).toEqual([1]));
  });

  it("forces exit 1 when close outlasts the timeout", async () => {
    vi.useFakeTimers();
    try {
      const { signal, exits } = harness(() => new Promise(() => {}), 5000);
      signal("SIGTERM");
      vi.advanceTimersByTime(4999);
      expect(exits).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(exits).toEqual([1]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("exits at once on a second signal, without running close again", async () => {
    const close = vi.fn(() => new Promise<void>(() => {}));
    const { signal, exits } = harness(close);
    signal("SIGTERM");
    signal("SIGINT");
    expect(exits).toEqual([1]);
    expect(close).toHaveBeenCalledTimes(1);
  });
});
