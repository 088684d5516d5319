import { execFile } from "node:child_process";
import { createServer, type Server } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";

const main = (service: string) => path.resolve(import.meta.dirname, "..", "services", service, "src", "main.ts");

interface Run {
  code: number | null;
  lines: Array<{ msg?: string; level?: string; port?: number }>;
  stdout: string;
  stderr: string;
}

/** Runs a service to its end (it must exit by itself) and parses its JSON log lines. */
function run(service: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [main(service)],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (_err, stdout, stderr) => {
        const lines = stdout
          .split("\n")
          .filter((line) => line !== "")
          .map((line) => JSON.parse(line) as Run["lines"][number]);
        resolve({ code: child.exitCode, lines, stdout, stderr });
      },
    );
  });
}

let pipeline: TestPipeline;
let holder: Server;
let takenPort: number;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, resolve));
  takenPort = (holder.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => holder.close(resolve));
  await pipeline.cleanup();
});

describe("a port already in use", () => {
  it.each([
    ["gateway", "PORT"],
    ["consumer", "HEALTH_PORT"],
  ])("stops the %s with exit 1 and one line naming %s, never a stack", async (service, variable) => {
    const result = await run(
      service,
      pipeline.serviceEnv({ PORT: "0", HEALTH_PORT: "0", [variable]: String(takenPort) }),
    );
    const output = `stdout: ${result.stdout}\nstderr: ${result.stderr}`;
    expect(result.code, output).toBe(1);
    const failures = result.lines.filter((line) => line.level === "error" || line.level === "fatal");
    expect(failures, output).toEqual([
      expect.objectContaining({ level: "fatal", msg: `port ${takenPort} is already in use`, port: takenPort }),
    ]);
    expect(result.lines.at(-1), output).toBe(failures[0]);
    expect(
      result.lines.filter((line) => line.msg === "consuming"),
      output,
    ).toEqual([]);
    expect(result.stderr, output).toBe("");
    expect(result.stdout, output).not.toContain("EADDRINUSE");
  });
});
