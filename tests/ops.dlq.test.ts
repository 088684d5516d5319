import { once } from "node:events";
import { topEvents } from "@evpipe/db";
import { nanos } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BatchAccepted, postJson } from "./support/http.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { installPoisonTrigger, removePoisonTrigger } from "./support/poison.ts";
import { type RunningService, runOps, spawnOps, startService } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

let pipeline: TestPipeline;
let gateway: RunningService;
let consumer: RunningService;
let key: string;
const sent = new Map<string, string[]>();
const env = () => ({
  NATS_URL: pipeline.natsUrl,
  NATS_NAMESPACE: pipeline.namespace,
  DATABASE_URL: pipeline.databaseUrl,
  LOG_LEVEL: "warn",
});

async function ops<T = unknown>(...args: string[]): Promise<T> {
  const result = await runOps(args, env());
  expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

async function send(requestId: string, users: string[], event?: string) {
  const res = await postJson<BatchAccepted>(
    gateway.url,
    "/v1/events/batch",
    { events: users.map((user_id, i) => ({ event: event ?? `ev-${i}`, user_id })) },
    { "x-api-key": key, "x-request-id": requestId },
  );
  expect(res.status).toBe(202);
  sent.set(requestId, res.body.ids);
  return res.body.ids;
}

const dlqMessages = async () => (await pipeline.jsm.streams.info(pipeline.names.dlqStream)).state.messages;
const writerSettled = async () => {
  const writer = await pipeline.jsm.consumers.info(pipeline.names.eventsStream, pipeline.names.writerConsumer);
  return writer.num_pending === 0 && writer.num_ack_pending === 0;
};
const utcDay = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

beforeAll(async () => {
  pipeline = await createTestPipeline();
  await installPoisonTrigger(pipeline.db);
  ({ key } = await pipeline.createKey(["ingest"]));
  [gateway, consumer] = await Promise.all([
    startService("gateway", pipeline.serviceEnv()),
    startService("consumer", pipeline.serviceEnv({ RETRY_DELAY_UNIT_MS: "5" })),
  ]);
  await send("dlq-a", ["poison-23514-1", "fine-1", "poison-23514-2", "poison-23514-3", "fine-2"]);
  await send("dlq-b", ["poison-22P02-1", "poison-22P02-2"]);
  await send("dlq-c", ["poison-40001-1"]);
  await waitFor("three dead letters", async () => (await dlqMessages()) === 3, { timeoutMs: 30_000 });
});

afterAll(async () => {
  await Promise.all([gateway?.stop(), consumer?.stop()]);
  await pipeline?.cleanup();
});

interface Row {
  seq: number;
  reason: string;
  code: string;
  attempts: number;
  event_id: string;
  user_id: string;
  request_id: string;
}

describe("pnpm ops dlq: inspecting", () => {
  it("stats counts dead letters and events by reason and by code", async () => {
    const stats = await ops<Record<string, unknown>>("dlq", "stats", "--json");
    expect(stats).toMatchObject({
      messages: 3,
      events: 6,
      by_reason: { permanent_error: { messages: 2, events: 5 }, retries_exhausted: { messages: 1, events: 1 } },
      by_code: {
        "23514": { messages: 1, events: 3 },
        "22P02": { messages: 1, events: 2 },
        "40001": { messages: 1, events: 1 },
      },
      recent_operations: [],
    });
    const human = await runOps(["dlq", "stats"], env());
    expect(human.stdout).toContain("3 dead letters holding 6 events");
    expect(human.stdout).toMatch(/permanent_error\s+2\s+5/);
  });

  it("list shows one line per event and each filter selects exactly what it says", async () => {
    const all = await ops<Row[]>("dlq", "list", "--json");
    expect(all).toHaveLength(6);
    expect(
      all
        .filter((row) => row.request_id === "dlq-a")
        .map((row) => row.user_id)
        .sort(),
    ).toEqual(["poison-23514-1", "poison-23514-2", "poison-23514-3"]);
    const exhausted = await ops<Row[]>("dlq", "list", "--reason", "retries_exhausted", "--json");
    expect(exhausted).toEqual([
      expect.objectContaining({ code: "40001", attempts: 6, user_id: "poison-40001-1", request_id: "dlq-c" }),
    ]);
    const byCode = await ops<Row[]>("dlq", "list", "--code", "22p02", "--json");
    expect(byCode.map((row) => row.user_id).sort()).toEqual(["poison-22P02-1", "poison-22P02-2"]);
    expect(await ops<Row[]>("dlq", "list", "--since", "1h", "--json")).toHaveLength(6);
    expect(await ops<Row[]>("dlq", "list", "--until", "2020-01-01", "--json")).toEqual([]);
    expect(await ops<Row[]>("dlq", "list", "--limit", "2", "--json")).toHaveLength(2);
    const table = await runOps(["dlq", "list", "--code", "40001"], env());
    expect(table.stdout).toMatch(/SEQ\s+TIME\s+REASON\s+CODE\s+ATTEMPTS\s+EVENT\s+USER_ID\s+REQUEST_ID/);
    expect(table.stdout).toContain("1 dead-lettered events.");
  });

  it("show prints the whole record with its headers and events", async () => {
    const [row] = await ops<Row[]>("dlq", "list", "--code", "40001", "--json");
    const record = await ops<Record<string, unknown>>("dlq", "show", String(row?.seq), "--json");
    expect(record).toMatchObject({
      seq: row?.seq,
      reason: "retries_exhausted",
      error_code: "40001",
      attempts: 6,
      request_id: "dlq-c",
      original_stream: pipeline.names.eventsStream,
      events: [expect.objectContaining({ id: sent.get("dlq-c")?.[0], user_id: "poison-40001-1" })],
    });
    expect(record.error_message).toContain("injected failure");
    const human = await runOps(["dlq", "show", String(row?.seq)], env());
    expect(human.stdout).toMatch(/error_code\s+40001/);
  });
});

describe("pnpm ops dlq: replaying and purging", () => {
  it("replays exactly the selection, stores it once, empties the DLQ, and a second replay is a no-op", async () => {
    await removePoisonTrigger(pipeline.db);
    const deadIds = [
      ...(sent.get("dlq-a") ?? []).filter((_, i) => i !== 1 && i !== 4),
      ...(sent.get("dlq-b") ?? []),
      ...(sent.get("dlq-c") ?? []),
    ];
    expect(await pipeline.storedCount(deadIds)).toBe(0);

    const published = await pipeline.publishedCount();
    const dry = await ops<Record<string, unknown>>("dlq", "replay", "--all", "--dry-run", "--json");
    expect(dry).toMatchObject({ dry_run: true, messages: 3, events: 6 });
    expect(await dlqMessages()).toBe(3);
    expect(await pipeline.publishedCount()).toBe(published);

    const one = await ops<Record<string, unknown>>("dlq", "replay", "--code", "22P02", "--json");
    expect(one).toMatchObject({ operation: "replay", messages: 1, events: 2, completed: true });
    await waitFor("the replayed events", async () => (await pipeline.storedCount(sent.get("dlq-b") ?? [])) === 2);
    expect(await dlqMessages()).toBe(2);
    expect(await pipeline.storedCount(deadIds)).toBe(2);

    const rest = await ops<Record<string, unknown>>("dlq", "replay", "--all", "--json");
    expect(rest).toMatchObject({ messages: 2, events: 4, completed: true });
    await waitFor(
      "every dead-lettered event stored",
      async () => (await pipeline.storedCount(deadIds)) === deadIds.length,
    );
    expect(await dlqMessages()).toBe(0);

    const again = await runOps(["dlq", "replay", "--all"], env());
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("Replayed 0 dead letters (0 events)");
    const total = await pipeline.db
      .selectFrom("events")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    expect(Number(total.n)).toBe(8);

    const stats = await ops<{ recent_operations: Array<Record<string, unknown>> }>("dlq", "stats", "--json");
    expect(stats.recent_operations.map((op) => [op.operation, op.messages, op.events, op.selector])).toEqual([
      ["replay", 0, 0, { all: true }],
      ["replay", 2, 4, { all: true }],
      ["replay", 1, 2, { code: "22P02" }],
    ]);
    expect(stats.recent_operations[0]?.by).toMatch(/@/);
  });

  it("purges with --yes exactly what the selector picks", async () => {
    await installPoisonTrigger(pipeline.db);
    await send("purge-1", ["poison-23505-p"]);
    await send("purge-2", ["poison-22001-p"]);
    await waitFor("two dead letters", async () => (await dlqMessages()) === 2);
    const purged = await ops<Record<string, unknown>>("dlq", "purge", "--code", "23505", "--yes", "--json");
    expect(purged).toMatchObject({ operation: "purge", messages: 1, events: 1 });
    const left = await ops<Row[]>("dlq", "list", "--json");
    expect(left.map((row) => row.request_id)).toEqual(["purge-2"]);
    await ops("dlq", "purge", "--all", "--yes", "--json");
    expect(await dlqMessages()).toBe(0);
    await removePoisonTrigger(pipeline.db);
  });

  it("a replay killed half-way, run again, stores every event once and empties the DLQ", async () => {
    await installPoisonTrigger(pipeline.db);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(...(await send(`kill-${i}`, [`poison-23514-k${i}`])));
    await waitFor("thirty dead letters", async () => (await dlqMessages()) === 30, { timeoutMs: 30_000 });
    await removePoisonTrigger(pipeline.db);

    const replay = spawnOps(["dlq", "replay", "--all", "--rate", "10"], env());
    await waitFor("the replay to be under way", async () => (await dlqMessages()) <= 25, { timeoutMs: 20_000 });
    replay.kill("SIGKILL");
    await new Promise((resolve) => replay.once("exit", resolve));
    const left = await dlqMessages();
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(30);

    const finish = await ops<Record<string, unknown>>("dlq", "replay", "--all", "--json");
    expect(finish).toMatchObject({ messages: left, completed: true });
    expect(await dlqMessages()).toBe(0);
    await waitFor("every event stored", async () => (await pipeline.storedCount(ids)) === ids.length);
    const rows = await pipeline.db.selectFrom("events").select(["id"]).where("id", "in", ids).execute();
    expect(rows).toHaveLength(30);
    await waitFor("the writer to settle every replayed message", writerSettled);
    expect(await ops("rollups", "verify", "--json")).toEqual({ agree: true, mismatches: [] });
  });

  it("a replay that crashed after a republish's PubAck, before its delete, run again stores and counts each event once", async () => {
    // Its own SQLSTATE, so each replay selects exactly this test's dead letters (--code).
    const letters = async () => (await ops<Row[]>("dlq", "list", "--code", "23P01", "--json")).length;
    await installPoisonTrigger(pipeline.db);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(...(await send(`crash-${i}`, [`poison-23P01-c${i}`], "crash-replayed")));
    await waitFor("four dead letters", async () => (await letters()) === 4, { timeoutMs: 30_000 });
    await removePoisonTrigger(pipeline.db);
    // Run again inside the duplicate window, the second copy is dropped by JetStream itself. Run again later (the
    // window is 2 minutes in production) it is a new message: with the shortest window, the consumer and
    // PostgreSQL have to keep it once.
    const { config } = await pipeline.jsm.streams.info(pipeline.names.eventsStream);
    await pipeline.jsm.streams.update(pipeline.names.eventsStream, { ...config, duplicate_window: nanos(100) });
    const published = await pipeline.publishedCount();

    const replay = ["dlq", "replay", "--code", "23P01"];
    const crashed = spawnOps(replay, { ...env(), OPS_FAULT_INJECTION: "crash-after-republish" });
    const [, signal] = await once(crashed, "exit");
    expect(signal).toBe("SIGKILL");
    expect(await pipeline.publishedCount()).toBe(published + 1);
    expect(await letters()).toBe(4);
    await waitFor("the crashed replay's event stored", async () => (await pipeline.storedCount(ids)) === 1);

    const again = await ops<Record<string, unknown>>(...replay, "--json");
    expect(again).toMatchObject({ messages: 4, events: 4, completed: true });
    expect(await letters()).toBe(0);
    expect(await pipeline.publishedCount()).toBe(published + 5);
    await waitFor("the writer to settle every replayed message", writerSettled);
    expect(await pipeline.storedCount(ids)).toBe(4);
    const top = await topEvents(pipeline.db, utcDay(-1), utcDay(1), 1000);
    expect(top.find((row) => row.event === "crash-replayed")).toEqual({ event: "crash-replayed", count: 4, users: 4 });
    expect(await ops("rollups", "verify", "--json")).toEqual({ agree: true, mismatches: [] });
  });
});
