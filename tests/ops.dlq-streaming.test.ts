import { execFile } from "node:child_process";
import path from "node:path";
import type { JetStreamManager } from "nats";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { publishDeadLetters, readDeadLetters } from "./support/dead-letters.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { runOps, spawnOps } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

// The CLI reads the DLQ a page at a time (100 dead letters, or 1000 headers alone); these DLQs are several pages
// long. No consumer runs: replays land in EVENTS and stay there.
let pipeline: TestPipeline;
const env = () => ({ NATS_URL: pipeline.natsUrl, NATS_NAMESPACE: pipeline.namespace, LOG_LEVEL: "warn" });
const info = async (stream: string) => (await pipeline.jsm.streams.info(stream)).state;

async function ops<T = unknown>(...args: string[]): Promise<T> {
  const result = await runOps(args, env());
  expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
});

beforeEach(async () => {
  await pipeline.jsm.streams.purge(pipeline.names.dlqStream);
  await pipeline.jsm.streams.purge(pipeline.names.eventsStream);
});

afterAll(async () => {
  await pipeline?.cleanup();
});

describe("pnpm ops dlq over a DLQ many pages long", () => {
  it("stats, list and a dry run see every dead letter once, in order", async () => {
    const permanent = await publishDeadLetters(pipeline.js, pipeline.names, { count: 230 });
    const exhausted = await publishDeadLetters(pipeline.js, pipeline.names, {
      count: 120,
      reason: "retries_exhausted",
      errorCode: "40001",
    });

    const stats = await ops<Record<string, unknown>>("dlq", "stats", "--json");
    expect(stats).toMatchObject({
      messages: 350,
      events: 350,
      by_reason: { permanent_error: { messages: 230 }, retries_exhausted: { messages: 120 } },
    });
    const rows = await ops<Array<{ seq: number; event_id: string }>>("dlq", "list", "--limit", "1000", "--json");
    expect(rows.map((row) => row.event_id)).toEqual([...permanent, ...exhausted]);
    expect(rows.map((row) => row.seq)).toEqual(rows.map((_, i) => (rows[0]?.seq ?? 0) + i));
    expect(await ops("dlq", "replay", "--reason", "retries_exhausted", "--dry-run", "--json")).toEqual({
      operation: "replay",
      dry_run: true,
      messages: 120,
      events: 120,
      skipped: 0,
    });
    expect((await info(pipeline.names.dlqStream)).messages).toBe(350);
  });

  it("a replay acts on what the DLQ held when it began and leaves dead letters that arrive meanwhile", async () => {
    const before = await publishDeadLetters(pipeline.js, pipeline.names, { count: 250 });
    const replay = spawnOps(["dlq", "replay", "--all", "--rate", "100", "--json"], env());
    let stdout = "";
    replay.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => replay.once("exit", resolve));
    // As replayed events that fail again would: dead letters arriving behind the replay's starting point.
    await waitFor("the replay to be under way", async () => (await info(pipeline.names.dlqStream)).messages < 250);
    const meanwhile = await publishDeadLetters(pipeline.js, pipeline.names, { count: 20 });

    expect(await exited, stdout).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ operation: "replay", messages: 250, events: 250, completed: true });
    expect((await info(pipeline.names.eventsStream)).messages).toBe(before.length);
    const left = await ops<Array<{ event_id: string }>>("dlq", "list", "--json");
    expect(left.map((row) => row.event_id)).toEqual(meanwhile);
  });

  it("on a terminal, shows a bar whose total is the selection, counted first from headers alone", async () => {
    await publishDeadLetters(pipeline.js, pipeline.names, { count: 1000 });
    await publishDeadLetters(pipeline.js, pipeline.names, {
      count: 60,
      reason: "retries_exhausted",
      errorCode: "40001",
    });
    const main = path.resolve(import.meta.dirname, "..", "services", "ops", "src", "main.ts");
    // script(1) gives the CLI a pseudo-terminal, as an operator's shell would.
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        "script",
        ["-qefc", `${process.execPath} ${main} dlq purge --reason retries_exhausted --yes`, "/dev/null"],
        { env: { ...process.env, ...env() }, timeout: 30_000 },
        (err, out) => (err ? reject(new Error(`${err.message}\n${out}`)) : resolve(out)),
      );
    });
    expect(output).toContain("Purging [");
    expect(output).toContain("60/60 dead letters");
    expect(output).not.toMatch(/\d+\/(?!60 )\d+ dead letters/);
    expect(output).toContain("Purged 60 dead letters (60 events)");
    expect((await info(pipeline.names.dlqStream)).messages).toBe(1000);
  });
});

describe("the tests' own DLQ reader (support/dead-letters.ts)", () => {
  it("passes over deleted sequences and fails loudly on any other error", async () => {
    const ids = await publishDeadLetters(pipeline.js, pipeline.names, { count: 5 });
    const { first_seq } = await info(pipeline.names.dlqStream);
    await pipeline.jsm.streams.deleteMessage(pipeline.names.dlqStream, first_seq + 1);
    await pipeline.jsm.streams.deleteMessage(pipeline.names.dlqStream, first_seq + 3);
    const letters = await readDeadLetters(pipeline.jsm, pipeline.names.dlqStream);
    expect(letters.map((letter) => letter.events?.[0]?.id)).toEqual([ids[0], ids[2], ids[4]]);

    // The stream vanishing under the reader, and a timeout: neither may pass for an empty DLQ.
    for (const failure of [
      () => pipeline.jsm.streams.getMessage("NO_SUCH_STREAM", { seq: 1 }),
      async () => {
        throw new Error("TIMEOUT");
      },
    ]) {
      // readDeadLetters calls streams.info and streams.getMessage alone.
      const jsm = {
        streams: { info: (stream: string) => pipeline.jsm.streams.info(stream), getMessage: failure },
      } as unknown as JetStreamManager;
      await expect(readDeadLetters(jsm, pipeline.names.dlqStream)).rejects.toThrow(
        /cannot read dead letter \d+ of .*: (stream not found|TIMEOUT)/,
      );
    }
  });
});
