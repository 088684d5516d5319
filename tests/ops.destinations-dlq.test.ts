import { randomUUID } from "node:crypto";
import { type DeadLetterReason, deadLetterHeaders, destinationNames, encodeDeadLetter } from "@evpipe/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishDeadLetters } from "./support/dead-letters.ts";
import { destinationsOpsEnv, newSecretsKey, noDatabase } from "./support/destinations.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { runOps } from "./support/processes.ts";

// No forwarder runs here: the dead letters are published as it writes them, onto each destination's subject.
let pipeline: TestPipeline;
let names: ReturnType<typeof destinationNames>;
const env = () => destinationsOpsEnv(pipeline, newSecretsKey(), noDatabase);
const ops = (...args: string[]) => runOps(["destinations", ...args], env());

async function json<T>(...args: string[]): Promise<T> {
  const result = await ops(...args, "--json");
  expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

async function subjectCount(stream: string, subject: string): Promise<number> {
  return (await pipeline.jsm.streams.info(stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
}
const deadLettersOf = (name: string) => subjectCount(names.dlqStream, names.dlqSubject(name));
const replaysOf = (name: string) => subjectCount(names.replayStream, names.replaySubject(name));
const writerDeadLetters = async () => (await pipeline.jsm.streams.info(pipeline.names.dlqStream)).state.messages;

let originSeq = 0;
/** Dead letters as the forwarder writes them for `name`: one event each, its reader in the message id. */
async function deadLetters(name: string, count: number, reason: DeadLetterReason = "permanent_error") {
  const ids: string[] = [];
  const failedAt = new Date();
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    ids.push(id);
    const event = {
      id,
      event: "signup",
      user_id: `${name}-user-${i}`,
      received_at: failedAt.toISOString(),
      request_id: `req-${id}`,
      key_id: "destkey00000",
    };
    const letter = encodeDeadLetter(
      {
        reason,
        errorCode: reason === "permanent_error" ? "HTTP_400" : "HTTP_503",
        errorMessage: "the vendor refused the batch",
        events: [event],
        attempts: reason === "permanent_error" ? 1 : 6,
        firstFailureAt: failedAt,
        lastFailureAt: failedAt,
      },
      {
        stream: pipeline.names.eventsStream,
        seq: ++originSeq,
        requestId: event.request_id,
        data: new Uint8Array(),
        reader: names.consumer(name),
      },
    );
    await pipeline.js.publish(names.dlqSubject(name), letter.data, { msgID: letter.msgID, headers: letter.headers });
  }
  return ids;
}

/** The events replayed to `name`, read by sequence: the replay stream is a work queue a consumer would drain. */
async function replayedTo(name: string): Promise<string[]> {
  const ids: string[] = [];
  const { state } = await pipeline.jsm.streams.info(names.replayStream);
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const msg = await pipeline.jsm.streams.getMessage(names.replayStream, { seq }).catch(() => undefined);
    if (msg?.subject !== names.replaySubject(name)) continue;
    expect(msg.header.get(deadLetterHeaders.replayedFrom)).toMatch(/^\d+$/);
    ids.push(...msg.json<{ events: Array<{ id: string }> }>().events.map((event) => event.id));
  }
  return ids.sort();
}

interface Letter {
  seq: number;
  reason: string;
  event_id: string;
}

let alpha: string[];
let beta: string[];

beforeAll(async () => {
  pipeline = await createTestPipeline();
  names = destinationNames(pipeline.namespace);
  for (const name of ["alpha", "beta"]) {
    const added = await ops("add", name, "--type", "webhook", "--url", "https://example.com/h", "--secret", "s");
    expect(added.code, added.stderr).toBe(0);
  }
  alpha = await deadLetters("alpha", 3);
  alpha.push(...(await deadLetters("alpha", 1, "retries_exhausted")));
  beta = await deadLetters("beta", 2);
  // The writer's dead letters share nothing with the destinations'.
  await publishDeadLetters(pipeline.js, pipeline.names, { count: 1 });
});

afterAll(async () => {
  // Removes the destinations' streams and buckets with the rest.
  await pipeline?.cleanup();
});

describe("pnpm ops destinations dlq", () => {
  it("lists, counts and shows one destination's dead letters alone", async () => {
    const rows = await json<Letter[]>("dlq", "alpha", "list");
    expect(rows.map((row) => row.event_id).sort()).toEqual([...alpha].sort());
    const exhausted = await json<Letter[]>("dlq", "alpha", "list", "--reason", "retries_exhausted");
    expect(exhausted.map((row) => row.event_id)).toEqual([alpha[3]]);
    expect(await json("dlq", "alpha", "stats")).toMatchObject({
      messages: 4,
      events: 4,
      by_reason: { permanent_error: { messages: 3, events: 3 }, retries_exhausted: { messages: 1, events: 1 } },
      by_code: { HTTP_400: { messages: 3, events: 3 }, HTTP_503: { messages: 1, events: 1 } },
    });
    const table = await ops("dlq", "alpha", "list");
    expect(table.stdout).toMatch(/SEQ\s+TIME\s+REASON\s+CODE\s+ATTEMPTS\s+EVENT\s+USER_ID\s+REQUEST_ID/);
    expect(table.stdout).toContain("4 dead-lettered events.");

    const [betaRow] = await json<Letter[]>("dlq", "beta", "list");
    const shown = await json<{ events: Array<{ id: string }> }>("dlq", "beta", "show", String(betaRow?.seq));
    expect(shown.events.map((event) => event.id)).toEqual([betaRow?.event_id]);
    // Another destination's dead letter is not there for this one, not even by its sequence number.
    const across = await ops("dlq", "alpha", "show", String(betaRow?.seq));
    expect(across.code).toBe(1);
    expect(across.stderr).toBe(`ops: no dead letter with sequence ${betaRow?.seq}\n`);
    expect(await json("dlq", "alpha", "list", "--seq", String(betaRow?.seq))).toEqual([]);
  });

  it("replays to the destination's replay subject alone, once, leaving everyone else's dead letters", async () => {
    const published = await pipeline.publishedCount();
    const writerBefore = await writerDeadLetters();
    expect(await json("dlq", "alpha", "replay", "--all", "--dry-run")).toMatchObject({
      dry_run: true,
      messages: 4,
      events: 4,
    });
    expect(await replaysOf("alpha")).toBe(0);

    const replayed = await json("dlq", "alpha", "replay", "--all");
    expect(replayed).toMatchObject({ operation: "replay", messages: 4, events: 4, completed: true });
    expect(await replayedTo("alpha")).toEqual([...alpha].sort());
    expect(await deadLettersOf("alpha")).toBe(0);
    // Nothing reached events.ingest, another destination, or the writer's dead letters.
    expect(await pipeline.publishedCount()).toBe(published);
    expect(await replaysOf("beta")).toBe(0);
    expect(await deadLettersOf("beta")).toBe(2);
    expect(await writerDeadLetters()).toBe(writerBefore);

    const again = await ops("dlq", "alpha", "replay", "--all");
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("Replayed 0 dead letters (0 events)");
    expect(await replaysOf("alpha")).toBe(4);
    expect(await pipeline.publishedCount()).toBe(published);

    // The audit trail names the destination; the writer's `dlq stats` shows only its own operations.
    const stats = await json<{ recent_operations: Array<Record<string, unknown>> }>("dlq", "alpha", "stats");
    expect(stats.recent_operations.map((op) => [op.destination, op.operation, op.messages])).toEqual([
      ["alpha", "replay", 0],
      ["alpha", "replay", 4],
    ]);
    expect((await json<{ recent_operations: unknown[] }>("dlq", "beta", "stats")).recent_operations).toEqual([]);
    const writer = await runOps(["dlq", "stats", "--json"], env());
    expect(JSON.parse(writer.stdout)).toMatchObject({ messages: writerBefore, recent_operations: [] });
  });

  it("purges only with --yes, and only the destination's own", async () => {
    const unconfirmed = await ops("dlq", "beta", "purge", "--all");
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stdout).toContain("Would purge 2 dead letters (2 events)");
    expect(unconfirmed.stderr).toBe("ops: purge deletes for good: run it again with --yes\n");
    expect(await deadLettersOf("beta")).toBe(2);

    const [first] = await json<Letter[]>("dlq", "beta", "list");
    expect(await json("dlq", "beta", "purge", "--seq", String(first?.seq), "--yes")).toMatchObject({ messages: 1 });
    const left = await json<Letter[]>("dlq", "beta", "list");
    expect(left.map((row) => row.event_id)).toEqual(beta.filter((id) => id !== first?.event_id));

    const writerBefore = await writerDeadLetters();
    await deadLetters("alpha", 1);
    expect(await json("dlq", "beta", "purge", "--all", "--yes")).toMatchObject({ messages: 1, completed: true });
    expect(await deadLettersOf("beta")).toBe(0);
    expect(await deadLettersOf("alpha")).toBe(1);
    expect(await writerDeadLetters()).toBe(writerBefore);
    expect(await replaysOf("beta")).toBe(0);
  });
});
