import { type ChildProcessByStdio, spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const loggerModule = fileURLToPath(new URL("./logger.ts", import.meta.url));

/** A process logging to its real stdout through createLogger's own destination, after `script`'s lines. */
function loggingProcess(script: string): ChildProcessByStdio<null, Readable, Readable> {
  const source = `import { createLogger } from ${JSON.stringify(loggerModule)};
    const log = createLogger({ service: "logger-test", level: "info" });
    ${script}`;
  return spawn(process.execPath, ["--input-type=module", "--eval", source], { stdio: ["ignore", "pipe", "pipe"] });
}

/** Every stdout line of the process until it has printed `count` of them or `timeoutMs` passed. */
function linesOf(child: ChildProcessByStdio<null, Readable, Readable>, count: number, timeoutMs: number) {
  return new Promise<{ lines: string[]; stderr: string }>((resolve) => {
    let out = "";
    let stderr = "";
    const finish = () => {
      clearTimeout(timer);
      resolve({ lines: out.split("\n").filter(Boolean), stderr });
    };
    const timer = setTimeout(finish, timeoutMs);
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.split("\n").filter(Boolean).length >= count) finish();
    });
    child.once("exit", () => setImmediate(finish));
  });
}

const children: ChildProcessByStdio<null, Readable, Readable>[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

describe("createLogger's stdout", () => {
  it("writes a lone line of a process that keeps running, though the line fills no write", async () => {
    // The process stays alive: only the periodic flush can bring a line shorter than a write out.
    const child = loggingProcess(`log.info({ requestId: "r-1" }, "a quiet line"); setInterval(() => {}, 1000);`);
    children.push(child);
    const { lines, stderr } = await linesOf(child, 1, 5000);
    expect(lines, stderr).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ level: "info", msg: "a quiet line", requestId: "r-1" });
  });

  it("writes every line logged just before process.exit, gathered or not", async () => {
    const child = loggingProcess(
      `for (let i = 0; i < 500; i++) log.info({ i }, "line"); log.fatal("last words"); process.exit(1);`,
    );
    children.push(child);
    const { lines, stderr } = await linesOf(child, 501, 10_000);
    expect(lines, stderr).toHaveLength(501);
    expect(lines.slice(0, 500).map((line) => (JSON.parse(line) as { i: number }).i)).toEqual(
      Array.from({ length: 500 }, (_, i) => i),
    );
    expect(JSON.parse(lines[500] as string)).toMatchObject({ level: "fatal", msg: "last words" });
  });
});
