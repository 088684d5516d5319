import { verifyRollups } from "@evpipe/db";
import { describe, expect, it } from "vitest";
import { readDeadLetters } from "./support/dead-letters.ts";
import { type BatchAccepted, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { installPoisonTrigger } from "./support/poison.ts";
import type { LogLine } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

const unitMs = 50;
const services = usePipelineServices({
  prepare: (pipeline) => installPoisonTrigger(pipeline.db),
  consumerEnv: { RETRY_DELAY_UNIT_MS: String(unitMs) },
});

async function send(users: string[], requestId: string) {
  const res = await postJson<BatchAccepted>(
    services.gateway.url,
    "/v1/events/batch",
    { events: users.map((user_id) => ({ event: "purchase", user_id })) },
    { "x-api-key": services.key, "x-request-id": requestId },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.ids;
}

const deadLetters = () => readDeadLetters(services.pipeline.jsm, services.pipeline.names.dlqStream);

const outcomes = (requestId: string): LogLine[] =>
  services.consumer.lines.filter((line) => line.requestId === requestId && typeof line.outcome === "string");

/**
 * The request's outcome lines once `count` of them are logged: the consumer logs a message's outcome after
 * settling it, and its log reaches stdout up to 100 ms later (ADR §46), so a dead letter can be read first.
 */
const loggedOutcomes = (requestId: string, count: number): Promise<LogLine[]> =>
  waitFor(`${count} outcome line(s) of ${requestId}`, () => {
    const lines = outcomes(requestId);
    return lines.length >= count ? lines : undefined;
  });

/** A transiently failing event's outcome at each delivery: retried five times, dead-lettered on the sixth. */
const retriedThenDeadLettered = [
  ["retrying", 1],
  ["retrying", 2],
  ["retrying", 3],
  ["retrying", 4],
  ["retrying", 5],
  ["dead_lettered", 6],
];

describe("consumer failure handling", () => {
  it("retries a transiently failing event 5 times with 3^n-unit gaps, then dead-letters it alone; its batch is stored at once", async () => {
    const ids = await send(["healthy-a", "healthy-b", "poison-40001-x", "healthy-c"], "transient-1");
    const healthy = [ids[0], ids[1], ids[3]] as string[];

    const firstRetry = await waitFor("the first retry", () =>
      outcomes("transient-1").find((l) => l.outcome === "retrying"),
    );
    expect(firstRetry).toMatchObject({
      deliveryCount: 1,
      attempt: 1,
      delayMs: 3 * unitMs,
      errorCode: "40001",
      failedCount: 1,
    });
    // Stored on the first delivery, before any retry.
    expect(await services.pipeline.storedCount(healthy)).toBe(3);

    const letters = await waitFor(
      "the dead letter",
      async () => {
        const all = await deadLetters();
        return all.filter((letter) => letter.requestId === "transient-1").length > 0 ? all : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const lines = await loggedOutcomes("transient-1", retriedThenDeadLettered.length);
    expect(lines.map((line) => [line.outcome, line.deliveryCount])).toEqual(retriedThenDeadLettered);
    const times = lines.map((line) => Date.parse(line.time as string));
    const gaps = times.slice(1).map((time, i) => time - (times[i] as number));
    [3, 9, 27, 81, 243].forEach((units, i) => {
      const expected = units * unitMs;
      // Only a lower bound: a loaded 2-core machine delays redeliveries, it never hurries them.
      expect(gaps[i], `gap ${i + 1}: ${JSON.stringify(gaps)}`).toBeGreaterThanOrEqual(expected * 0.8);
    });

    const mine = letters.filter((letter) => letter.requestId === "transient-1");
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      reason: "retries_exhausted",
      errorCode: "40001",
      attempts: 6,
      originalSeq: firstRetry.streamSeq,
    });
    expect(mine[0]?.errorMessage).toContain("injected failure for poison-40001-x");
    expect(mine[0]?.events?.map((event) => event.id)).toEqual([ids[2]]);
    expect(
      Date.parse(mine[0]?.lastFailureAt as string) - Date.parse(mine[0]?.firstFailureAt as string),
    ).toBeGreaterThanOrEqual((3 + 9 + 27 + 81 + 243) * unitMs * 0.8);
    expect(await services.pipeline.storedCount([ids[2] as string])).toBe(0);
  });

  it("dead-letters a permanently failing event on its first delivery and stores the rest of its batch", async () => {
    const ids = await send(["ok-1", "poison-23514-y", "ok-2", "poison-22P02-z"], "permanent-1");
    const letters = await waitFor("the dead letters", async () => {
      const mine = (await deadLetters()).filter((l) => l.requestId === "permanent-1");
      return mine.length === 2 ? mine : undefined;
    });
    expect(letters.map((l) => [l.reason, l.errorCode, l.attempts, l.events?.map((e) => e.user_id)]).sort()).toEqual([
      ["permanent_error", "22P02", 1, ["poison-22P02-z"]],
      ["permanent_error", "23514", 1, ["poison-23514-y"]],
    ]);
    expect(await services.pipeline.storedCount([ids[0] as string, ids[2] as string])).toBe(2);
    expect(await services.pipeline.storedCount([ids[1] as string, ids[3] as string])).toBe(0);
    expect((await loggedOutcomes("permanent-1", 2)).map((line) => [line.outcome, line.deliveryCount])).toEqual([
      ["dead_lettered", 1],
      ["dead_lettered", 1],
    ]);
  });

  it("sends each failing event its own way: a permanent one to the DLQ at once, a transient one through its retries", async () => {
    const users = ["mix-1", "mix-2", "poison-22023-perm", "mix-3", "poison-40001-trans", "mix-4", "mix-5"];
    const ids = await send(users, "mixed-1");
    const healthy = ids.filter((_, i) => !users[i]?.startsWith("poison-"));
    const [permanentId, transientId] = [ids[2] as string, ids[4] as string];

    const permanentLetter = await waitFor("the permanent failure's dead letter", async () =>
      (await deadLetters()).find((l) => l.requestId === "mixed-1" && l.reason === "permanent_error"),
    );
    expect(permanentLetter).toMatchObject({ errorCode: "22023", attempts: 1 });
    expect(permanentLetter.events?.map((e) => e.id)).toEqual([permanentId]);
    expect(await services.pipeline.storedCount(healthy)).toBe(5);

    const letters = await waitFor(
      "the transient failure's dead letter",
      async () => {
        const mine = (await deadLetters()).filter((l) => l.requestId === "mixed-1");
        return mine.some((l) => l.reason === "retries_exhausted") ? mine : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    // Each event dead-lettered exactly once, however often its message came back.
    expect(letters.map((l) => [l.reason, l.errorCode, l.attempts, l.events?.map((e) => e.id)]).sort()).toEqual([
      ["permanent_error", "22023", 1, [permanentId]],
      ["retries_exhausted", "40001", 6, [transientId]],
    ]);
    const mixed = await loggedOutcomes("mixed-1", 1 + retriedThenDeadLettered.length);
    expect(mixed.map((line) => [line.outcome, line.deliveryCount])).toEqual([
      ["dead_lettered", 1],
      ...retriedThenDeadLettered,
    ]);
    expect(await services.pipeline.storedCount([permanentId, transientId])).toBe(0);
    expect(await services.pipeline.storedCount(healthy)).toBe(5);
    expect(await verifyRollups(services.pipeline.db)).toEqual([]);
  });

  it("dead-letters an envelope that fails validation as it was, without retrying", async () => {
    const garbage = JSON.stringify({ v: 2, events: "nope" });
    const ack = await services.pipeline.js.publish(
      services.pipeline.names.eventsSubject,
      new TextEncoder().encode(garbage),
    );
    const letter = await waitFor("the dead letter", async () =>
      (await deadLetters()).find((l) => l.originalSeq === ack.seq),
    );
    expect(letter).toMatchObject({
      reason: "permanent_error",
      errorCode: "ENVELOPE_INVALID",
      attempts: 1,
      body: garbage,
    });
  });
});
