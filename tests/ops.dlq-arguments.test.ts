import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishDeadLetters } from "./support/dead-letters.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { runOps } from "./support/processes.ts";

// Refusals need dead letters to leave alone, not a consumer to make them: these are published directly.
let pipeline: TestPipeline;
const env = () => ({ NATS_URL: pipeline.natsUrl, NATS_NAMESPACE: pipeline.namespace, LOG_LEVEL: "warn" });
const dlqMessages = async () => (await pipeline.jsm.streams.info(pipeline.names.dlqStream)).state.messages;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  await publishDeadLetters(pipeline.js, pipeline.names, { count: 3 });
});

afterAll(async () => {
  await pipeline?.cleanup();
});

describe("pnpm ops dlq: arguments and reachability", () => {
  it.each([
    [["dlq", "replay"], 2, "say what to select"],
    [["dlq", "replay", "--all", "--reason", "permanent_error"], 2, "--all selects everything"],
    [["dlq", "replay", "--seq", "abc"], 2, '--seq "abc" is not a sequence number'],
    [["dlq", "list", "--since", "yesterday"], 2, '--since "yesterday" is not a time'],
    [["dlq", "list", "--reason", "sad"], 2, "--reason must be one of retries_exhausted, permanent_error"],
    [["dlq", "list", "--limit", "0"], 2, "--limit must be a whole number above 0"],
    [["dlq", "replay", "--all", "--rate", "0"], 2, "--rate must be a whole number above 0"],
    [["dlq", "show"], 2, "usage: pnpm ops dlq show SEQ"],
    [["dlq", "show", "999999"], 1, "no dead letter with sequence 999999"],
    [["dlq", "frobnicate"], 2, "usage:"],
    [["dlq", "toString"], 2, "usage:"],
  ])("refuses %j with exit %i and a one-line reason, changing nothing", async (args, code, message) => {
    const result = await runOps(args, env());
    expect(result.code, result.stderr).toBe(code);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await dlqMessages()).toBe(3);
  });

  it("purge without --yes says what it would delete and deletes nothing", async () => {
    const result = await runOps(["dlq", "purge", "--all"], env());
    expect(result.code).toBe(2);
    expect(result.stdout).toContain("Would purge 3 dead letters (3 events)");
    expect(result.stderr).toContain("run it again with --yes");
    expect(await dlqMessages()).toBe(3);
  });

  it.each([["stats"], ["list"], ["show", "1"], ["replay", "--all"], ["purge", "--all", "--yes"]])(
    "dlq %s says in one line that NATS is unreachable",
    async (...args) => {
      const result = await runOps(["dlq", ...args], { ...env(), NATS_URL: "nats://127.0.0.1:1" });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^ops: cannot reach NATS at nats:\/\/127\.0\.0\.1:1: [^\n]+\n$/);
    },
  );

  it("refuses an unknown OPS_FAULT_INJECTION (a test seam) before doing anything", async () => {
    const result = await runOps(["dlq", "replay", "--all"], { ...env(), OPS_FAULT_INJECTION: "crash-sometime" });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("ops: invalid configuration: OPS_FAULT_INJECTION: must be crash-after-republish\n");
    expect(await dlqMessages()).toBe(3);
  });
});
