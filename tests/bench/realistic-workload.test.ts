import { createIngestSchemas, defaultEventLimits, seededRandom } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { defaultRealisticParams, RealisticEvents, zipfSampler } from "./realistic-workload.ts";

const dayMs = 86_400_000;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("the realistic bench workload", () => {
  it("draws the same events from the same seed, each with an id of its own", () => {
    const first = new RealisticEvents(defaultRealisticParams);
    const second = new RealisticEvents(defaultRealisticParams);
    const nowMs = Date.now();
    const draws = Array.from({ length: 1000 }, () => [first.draw(nowMs), second.draw(nowMs)]);
    for (const [a, b] of draws) expect(a).toEqual(b);
    const [a, b] = [first.envelopeBatch(50), second.envelopeBatch(50)];
    expect(a.map(({ event, user_id, metadata }) => ({ event, user_id, metadata }))).toEqual(
      b.map(({ event, user_id, metadata }) => ({ event, user_id, metadata })),
    );
    expect(new Set([...a, ...b].map((event) => event.id)).size).toBe(100);
  });

  it("makes batch bodies the gateway accepts, of fresh UUIDs, the pool's names and sized metadata", () => {
    const events = new RealisticEvents(defaultRealisticParams);
    const { batch } = createIngestSchemas(defaultEventLimits);
    // Through the schema's Standard Schema interface: valibot itself is a dependency of shared, not of the tests.
    const parse = (body: string) => {
      const result = batch["~standard"].validate(JSON.parse(body));
      if (result instanceof Promise || result.issues) throw new Error(`rejected: ${JSON.stringify(result)}`);
      return result.value.events;
    };
    const parsed = Array.from({ length: 20 }, () => parse(events.batchBody(100))).flat();
    expect(parsed).toHaveLength(2000);
    expect(new Set(parsed.map((event) => event.id)).size).toBe(2000);
    for (const event of parsed) {
      expect(event.id, JSON.stringify(event)).toMatch(uuid);
      expect(events.names).toContain(event.event);
      const bytes = JSON.stringify(event.metadata).length;
      expect(bytes, JSON.stringify(event.metadata)).toBeGreaterThanOrEqual(
        0.5 * defaultRealisticParams.metadataBytes - 2,
      );
      expect(bytes, JSON.stringify(event.metadata)).toBeLessThanOrEqual(1.5 * defaultRealisticParams.metadataBytes + 2);
    }
  });

  it("spreads client times over today so far, with a late tail of the days before", () => {
    const events = new RealisticEvents(defaultRealisticParams);
    const nowMs = Date.UTC(2026, 10, 20, 15, 0, 0);
    const today = Date.UTC(2026, 10, 20);
    const times = Array.from({ length: 50_000 }, () => events.draw(nowMs).clientMs);
    const late = times.filter((time) => time < today);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(today - defaultRealisticParams.lateDays * dayMs);
    expect(Math.max(...times)).toBeLessThanOrEqual(nowMs);
    expect(late.length / times.length).toBeGreaterThan(0.015);
    expect(late.length / times.length).toBeLessThan(0.025);
    // Today's part covers the day so far, not one moment: both halves of it are well used.
    const firstHalf = times.filter((time) => time >= today && time < today + (nowMs - today) / 2).length;
    expect(firstHalf / (times.length - late.length)).toBeGreaterThan(0.45);
    expect(firstHalf / (times.length - late.length)).toBeLessThan(0.55);
  });

  it("draws users with a Zipf skew: a few heavy users and a long tail", () => {
    const draw = zipfSampler(100_000, 1, seededRandom(7));
    const counts = new Map<number, number>();
    const samples = 200_000;
    for (let index = 0; index < samples; index++) {
      const rank = draw();
      counts.set(rank, (counts.get(rank) ?? 0) + 1);
    }
    // P(rank 0) = 1 / H(100,000) = 8.3%; the top 1% (1,000 users) take H(1,000) / H(100,000) = 62%.
    expect((counts.get(0) ?? 0) / samples).toBeCloseTo(0.083, 2);
    let top = 0;
    for (const [rank, count] of counts) if (rank < 1000) top += count;
    expect(top / samples).toBeGreaterThan(0.6);
    expect(top / samples).toBeLessThan(0.64);
    const seenOnce = [...counts.values()].filter((count) => count === 1).length;
    expect(seenOnce, `${counts.size} users seen`).toBeGreaterThan(counts.size / 3);
    expect(Math.max(...counts.keys())).toBeLessThan(100_000);
  });
});
