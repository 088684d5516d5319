import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { runService } from "./support/processes.ts";

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
  ] as const)("stops the %s with exit 1 and one line naming %s, never a stack", async (service, variable) => {
    const result = await runService(
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
