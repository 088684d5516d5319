import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createSupervisor } from "./supervisor.ts";

// Each child touches a file once its signal handlers are installed, so a test signals only children that can
// hear it (signalled earlier, a child would die of the default action and look like a clean stop).
const readyDir = mkdtempSync(path.join(tmpdir(), "evp-supervisor-"));
afterAll(() => rmSync(readyDir, { recursive: true, force: true }));
let children = 0;
const readyFile = () => path.join(readyDir, `ready-${++children}`);
const ready = (file: string) => `require("node:fs").writeFileSync(${JSON.stringify(file)}, "");`;

async function untilReady(files: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!files.every((file) => existsSync(file))) {
    if (Date.now() > deadline) throw new Error(`children not ready: ${files.filter((f) => !existsSync(f))}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// A child that reports each SIGTERM on stderr (inherited: the test reads nothing), exits 0 after the first
// one's 300 ms "shutdown", or with `code` after `afterMs` on its own.
const child = (name: string, options: { afterMs?: number; code?: number; file?: string } = {}) => ({
  name,
  command: process.execPath,
  args: [
    "-e",
    `let terms = 0;
     process.on("SIGTERM", () => { terms++; if (terms === 1) setTimeout(() => process.exit(terms === 1 ? 0 : 9), 300); });
     setTimeout(() => process.exit(${options.code ?? 0}), ${options.afterMs ?? 60_000});
     ${options.file ? ready(options.file) : ""}`,
  ],
});

describe("the start supervisor", () => {
  it("forwards a stop once, even when the same signal arrives twice, and exits 0 when every child stopped", async () => {
    const said: string[] = [];
    const supervisor = createSupervisor({ env: process.env, say: (line) => said.push(line) });
    const files = [readyFile(), readyFile()];
    const done = supervisor.runServices([child("a", { file: files[0] }), child("b", { file: files[1] })]);
    await untilReady(files);
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
    const file = readyFile();
    const slowStopper = {
      name: "a",
      command: process.execPath,
      args: [
        "-e",
        `let stopping = false;
         process.on("SIGINT", () => { if (stopping) process.exit(1); stopping = true; setTimeout(() => process.exit(0), 10_000); });
         setInterval(() => {}, 1000);
         ${ready(file)}`,
      ],
    };
    const done = supervisor.runServices([slowStopper]);
    await untilReady([file]);
    const started = performance.now();
    supervisor.signal("SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 100));
    supervisor.signal("SIGINT");
    expect(await done).toBe(1);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(said).toEqual(["a exited with code 1 while stopping"]);
  });
});
