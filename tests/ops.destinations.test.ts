import { randomBytes } from "node:crypto";
import {
  destinationNames,
  isNotFound,
  openDestinationStatusBucket,
  openDestinationsBucket,
  openSecret,
  readDestination,
} from "@evpipe/shared";
import { AckPolicy, DeliverPolicy, type KV } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destinationsOpsEnv, newSecretsKey, noDatabase } from "./support/destinations.ts";
import { createTestPipeline, type TestPipeline } from "./support/pipeline.ts";
import { runOps } from "./support/processes.ts";

// The forwarder does not run here: what it would leave (consumers, status entries, dead letters) is made by hand.
let pipeline: TestPipeline;
let names: ReturnType<typeof destinationNames>;
let bucket: KV;
const secretsKey = newSecretsKey();
const env = (extra: Record<string, string> = {}) =>
  destinationsOpsEnv(pipeline, secretsKey, { ...noDatabase, ...extra });
const ops = (...args: string[]) => runOps(["destinations", ...args], env());

async function json<T>(...args: string[]): Promise<T> {
  const result = await ops(...args, "--json");
  expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

async function add(name: string, ...options: string[]) {
  const result = await ops("add", name, "--type", "webhook", "--url", "https://x.test/h", "--secret", "s", ...options);
  expect(result.code, result.stderr).toBe(0);
  return result;
}

const secretOf = (prefix: string) => `${prefix}_${randomBytes(16).toString("hex")}`;
/** Not the secret, nor any of it beyond the last four characters that `redactSecret` shows. */
const expectNoSecret = (text: string, secret: string) => expect(text).not.toContain(secret.slice(0, -4));
const startOf = async (name: string) => (await readDestination(bucket, name))?.record.start_at;

async function subjectCount(stream: string, subject: string): Promise<number> {
  return (await pipeline.jsm.streams.info(stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
}

/** Only counted and purged here, never read: any bytes on the destination's DLQ subject will do. */
async function deadLetters(name: string, count: number) {
  for (let i = 0; i < count; i++) await pipeline.js.publish(names.dlqSubject(name), `{"dead":${i}}`);
}

/** The durable consumer the forwarder would make for `name` on `stream`. */
async function forwarderConsumer(stream: string, name: string, subject: string) {
  await pipeline.jsm.consumers.add(stream, {
    durable_name: names.consumer(name),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: subject,
  });
}

const consumerExists = (stream: string, name: string) =>
  pipeline.jsm.consumers.info(stream, names.consumer(name)).then(
    () => true,
    (err: unknown) => {
      if (isNotFound(err)) return false;
      throw err;
    },
  );

beforeAll(async () => {
  pipeline = await createTestPipeline();
  names = destinationNames(pipeline.namespace);
  bucket = await openDestinationsBucket(pipeline.js, names);
});

afterAll(async () => {
  // Removes the destinations' streams and buckets with the rest.
  await pipeline?.cleanup();
});

describe("pnpm ops destinations add", () => {
  it("stores the record with its secret sealed: not in the bucket's bytes, not in any output, opening with the key", async () => {
    const secret = secretOf("phc");
    const before = Date.now();
    const url = "https://eu.i.posthog.com";
    const result = await ops("add", "sealed", "--type", "posthog", "--url", url, "--secret", secret, "--json");
    expect(result.code, result.stderr).toBe(0);
    expectNoSecret(`${result.stdout}${result.stderr}`, secret);
    expect(JSON.parse(result.stdout)).toEqual({
      name: "sealed",
      type: "posthog",
      url,
      secret: `****${secret.slice(-4)}`,
      events: null,
      rate: null,
      paused: false,
      created_at: expect.any(String),
      start_at: expect.any(String),
    });

    const stored = await readDestination(bucket, "sealed");
    expect(stored?.record).toMatchObject({ name: "sealed", type: "posthog", url, paused: false });
    expect(openSecret(Buffer.from(secretsKey, "base64"), "sealed", stored?.record.secret ?? "")).toBe(secret);
    // Without --from its consumer starts at the time of the add.
    const startAt = Date.parse(stored?.record.start_at ?? "");
    expect(startAt).toBeGreaterThanOrEqual(before - 1000);
    expect(startAt).toBeLessThanOrEqual(Date.now());

    const raw = await pipeline.jsm.streams.info(`KV_${names.bucket}`);
    for (let seq = raw.state.first_seq; seq <= raw.state.last_seq; seq++) {
      const message = await pipeline.jsm.streams.getMessage(`KV_${names.bucket}`, { seq });
      expect(Buffer.from(message.data).toString("latin1")).not.toContain(secret);
    }
    // The dead-letter and replay streams exist before the forwarder first runs.
    expect((await pipeline.jsm.streams.info(names.dlqStream)).config.subjects).toEqual([names.dlqSubjects]);
    expect((await pipeline.jsm.streams.info(names.replayStream)).config.subjects).toEqual([names.replaySubjects]);
  });

  it("keeps --events and --rate, and starts at --from: a time ago, a date, or an RFC 3339 time", async () => {
    const human = await add("filtered", "--events", "signup, purchase,signup", "--rate", "2.5", "--from", "2h");
    expect(human.stdout).toMatch(/^Added destination filtered: webhook to https:\/\/x\.test\/h, secret \*\*\*\*\.\n/);
    expect(human.stdout).toContain("It forwards events signup, purchase accepted since");
    expect((await readDestination(bucket, "filtered"))?.record).toMatchObject({
      events: ["signup", "purchase"],
      rate: 2.5,
    });
    const ago = Date.parse((await startOf("filtered")) ?? "");
    expect(Math.abs(ago - (Date.now() - 2 * 3600_000))).toBeLessThan(30_000);
    await add("from-day", "--from", "2026-01-02");
    expect(await startOf("from-day")).toBe("2026-01-02T00:00:00.000Z");
    await add("from-time", "--from", "2026-01-02T03:04:05+02:00");
    expect(await startOf("from-time")).toBe("2026-01-02T01:04:05.000Z");
  });
});

interface Row {
  name: string;
  secret: string;
  [field: string]: unknown;
}

describe("pnpm ops destinations list", () => {
  it("shows each destination's status, lag and dead letters, its secret redacted", async () => {
    const secret = secretOf("mp");
    const url = "https://api.mixpanel.com";
    const added = await ops("add", "listed", "--type", "mixpanel", "--url", url, "--secret", secret);
    expect(added.code, added.stderr).toBe(0);
    expectNoSecret(`${added.stdout}${added.stderr}`, secret);
    const report = {
      delivered: 7,
      failed: 2,
      retried: 3,
      last_success_at: "2026-11-23T10:00:00.000Z",
      last_error: { at: "2026-11-23T10:01:00.000Z", message: "503 Service Unavailable" },
      updated_at: "2026-11-23T10:01:01.000Z",
    };
    await (await openDestinationStatusBucket(pipeline.js, names)).put("listed", JSON.stringify(report));
    // Lag: three events its consumer has not had, and one replay waiting for it.
    await forwarderConsumer(pipeline.names.eventsStream, "listed", pipeline.names.eventsSubject);
    await forwarderConsumer(names.replayStream, "listed", names.replaySubject("listed"));
    for (let i = 0; i < 3; i++) await pipeline.js.publish(pipeline.names.eventsSubject, `{"n":${i}}`);
    await pipeline.js.publish(names.replaySubject("listed"), "{}");
    await deadLetters("listed", 2);

    const rows = await json<Row[]>("list");
    const { updated_at, ...counts } = report;
    expect(rows.find((r) => r.name === "listed")).toEqual({
      name: "listed",
      type: "mixpanel",
      url,
      secret: `****${secret.slice(-4)}`,
      events: null,
      rate: null,
      paused: false,
      created_at: expect.any(String),
      start_at: expect.any(String),
      lag: 4,
      ...counts,
      status_updated_at: updated_at,
      dead_letters: 2,
    });
    // A destination the forwarder has not taken up yet.
    const fresh = { lag: null, delivered: 0, last_success_at: null, last_error: null, dead_letters: 0 };
    expect(rows.find((r) => r.name === "sealed")).toMatchObject({ ...fresh, status_updated_at: null });

    for (const args of [["list"], ["list", "--json"]]) {
      const result = await ops(...args);
      expect(result.code, result.stderr).toBe(0);
      expectNoSecret(`${result.stdout}${result.stderr}`, secret);
    }
    const table = (await ops("list")).stdout;
    expect(table).toMatch(
      /NAME\s+TYPE\s+URL\s+STATE\s+EVENTS\s+RATE\s+LAG\s+DELIVERED\s+FAILED\s+RETRIED\s+LAST SUCCESS/,
    );
    expect(table).toMatch(
      /listed\s+mixpanel\s+https:\/\/api\.mixpanel\.com\s+active\s+all\s+-\s+4\s+7\s+2\s+3\s+2026-11-23T10/,
    );
    expect(table).toMatch(/2026-11-23T10:01:00\.000Z 503 Service Unavailable\s+2\s+\*\*\*\*/);
  });

  it("works without DESTINATION_SECRETS_KEY, and says when a secret does not open with the key given", async () => {
    const without = await runOps(["destinations", "list", "--json"], env({ DESTINATION_SECRETS_KEY: "" }));
    expect(without.code, without.stderr).toBe(0);
    expect((JSON.parse(without.stdout) as Row[]).map((row) => row.secret)).toEqual([
      "****",
      "****",
      "****",
      "****",
      "****",
    ]);
    const other = randomBytes(32).toString("base64");
    const wrong = await runOps(["destinations", "list", "--json"], env({ DESTINATION_SECRETS_KEY: other }));
    expect((JSON.parse(wrong.stdout) as Row[])[0]?.secret).toBe("(does not open with this DESTINATION_SECRETS_KEY)");
  });
});

describe("pnpm ops destinations pause, resume and remove", () => {
  it("pause and resume flip paused by compare-and-set, and doing either twice changes nothing", async () => {
    await add("pausable");
    const paused = await ops("pause", "pausable");
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toBe(
      "Paused destination pausable: the forwarder stops delivering to it and keeps its position.\n",
    );
    const after = await readDestination(bucket, "pausable");
    expect(after?.record.paused).toBe(true);
    const again = await ops("pause", "pausable");
    expect([again.code, again.stdout]).toEqual([0, "Destination pausable is already paused.\n"]);
    expect((await readDestination(bucket, "pausable"))?.revision).toBe(after?.revision);

    const resumed = await ops("resume", "pausable");
    expect(resumed.stdout).toBe("Resumed destination pausable: the forwarder delivers from where it stopped.\n");
    const back = await readDestination(bucket, "pausable");
    expect(back?.record).toEqual({ ...after?.record, paused: false });
    const twice = await ops("resume", "pausable");
    expect([twice.code, twice.stdout]).toEqual([0, "Destination pausable is already active.\n"]);
    expect((await readDestination(bucket, "pausable"))?.revision).toBe(back?.revision);
  });

  it("remove deletes the record, its consumers, its dead letters and replays, and nobody else's", async () => {
    await add("gone");
    await add("stays");
    await forwarderConsumer(pipeline.names.eventsStream, "gone", pipeline.names.eventsSubject);
    await forwarderConsumer(names.replayStream, "gone", names.replaySubject("gone"));
    await deadLetters("gone", 2);
    await deadLetters("stays", 1);
    await pipeline.js.publish(names.replaySubject("gone"), "{}");
    const status = await openDestinationStatusBucket(pipeline.js, names);
    await status.put(
      "gone",
      JSON.stringify({ delivered: 1, failed: 0, retried: 0, updated_at: "2026-11-23T10:00:00Z" }),
    );

    const result = await ops("remove", "gone");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(
      "Removed destination gone; dropped its 2 dead letters, and 1 replayed dead letters not yet delivered.\n",
    );
    expect(await readDestination(bucket, "gone")).toBeUndefined();
    expect(await consumerExists(pipeline.names.eventsStream, "gone")).toBe(false);
    expect(await consumerExists(names.replayStream, "gone")).toBe(false);
    expect(await subjectCount(names.dlqStream, names.dlqSubject("gone"))).toBe(0);
    expect(await subjectCount(names.replayStream, names.replaySubject("gone"))).toBe(0);
    expect((await status.get("gone"))?.operation).not.toBe("PUT");
    // Nobody else's: another destination's record, consumers and dead letters stay.
    expect(await subjectCount(names.dlqStream, names.dlqSubject("stays"))).toBe(1);
    expect(await readDestination(bucket, "stays")).toBeDefined();
    expect(await consumerExists(pipeline.names.eventsStream, "listed")).toBe(true);
    // The record is purged with its history (which holds the sealed secret), and the name is free again.
    const history: unknown[] = [];
    for await (const entry of await bucket.history({ key: "gone" })) history.push(entry.operation);
    expect(history).toEqual(["PURGE"]);
    await add("gone");
    expect((await json<Row[]>("list")).find((r) => r.name === "gone")).toMatchObject({
      lag: null,
      delivered: 0,
      dead_letters: 0,
    });
  });
});
