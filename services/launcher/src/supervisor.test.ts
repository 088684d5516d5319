import { describe, expect, it } from "vitest";
import { createSupervisor } from "./supervisor.ts";

// A child that reports each SIGTERM on stderr (inherited: the test reads nothing), exits 0 after the first
// one's 300 ms "shutdown", or with `code` after `afterMs` on its own.
const child = (name: string, options: { afterMs?: number; code?: number; ignoreTerm?: boolean } = {}) => ({
  name,
  command: process.execPath,
  args: [
    "-e",
    `let terms = 0;
     process.on("SIGTERM", () => { terms++; if (terms === 1) setTimeout(() => process.exit(terms === 1 ? 0 : 9), 300); });
     setTimeout(() => process.exit(${options.code ?? 0}), ${options.afterMs ?? 60_000});`,
  ],
});

describe("the start supervisor", () => {
  it("forwards a stop once, even when the same signal arrives twice, and exits 0 when every child stopped", async () => {
    const said: string[] = [];
    const supervisor = createSupervisor({ env: process.env, say: (line) => said.push(line) });
    const done = supervisor.runServices([child("a"), child("b")]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    supervisor.signal("SIGTERM");
    supervisor.signal("SIGTERM");
    expect(await done).toBe(0);
    expect(said).toEqual([]);
  });

  it("stops the others when one child ends on its own, and exits 1 naming it", async () => {
    const said: string[] = [];
    const supervisor = createSupervisor({ env: process.env, say: (line) => said.push(line) });
    const started = performance.now();
    expect(await supervisor.runServices([child("gateway", { afterMs: 200, code: 3 }), child("consumer")])).toBe(1);
    expect(said).toEqual(["gateway exited with code 3; stopping consumer"]);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("forwards a stop that comes after the repeat window: the user insists, the children exit at once", async () => {
    const said: string[] = [];
    const supervisor = createSupervisor({ env: process.env, say: (line) => said.push(line), repeatWindowMs: 50 });
    // Like a service: the first SIGINT starts a slow shutdown, a second one exits at once with 1.
    const slowStopper = {
      name: "a",
      command: process.execPath,
      args: [
        "-e",
        `let stopping = false;
         process.on("SIGINT", () => { if (stopping) process.exit(1); stopping = true; setTimeout(() => process.exit(0), 10_000); });
         setInterval(() => {}, 1000);`,
      ],
    };
    const done = supervisor.runServices([slowStopper]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = performance.now();
    supervisor.signal("SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 100));
    supervisor.signal("SIGINT");
    expect(await done).toBe(1);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(said).toEqual(["a exited with code 1 while stopping"]);
  });
});
