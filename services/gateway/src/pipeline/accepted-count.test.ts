import { envelopeMessageId } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import type { EventPublisher } from "../publisher.ts";
import { createTestGateway } from "../testing/test-deps.ts";
import { countingPublisher } from "./accepted-count.ts";

/** A publisher answering as JetStream's duplicate window does: a message id it has seen is a duplicate. */
function duplicateWindow(): EventPublisher & { fail: boolean } {
  const seen = new Set<string>();
  return {
    fail: false,
    async publish(events) {
      if (this.fail) throw new Error("no PubAck");
      const id = envelopeMessageId(events);
      const duplicate = seen.has(id);
      seen.add(id);
      return { newEvents: duplicate ? 0 : events.length };
    },
  };
}

describe("countingPublisher", () => {
  it("counts the events of every acknowledged publish, from our routes and the Segment ones, and no failed one", async () => {
    const counts = { accepted: 0 };
    const jetStream = duplicateWindow();
    const gateway = createTestGateway({ publisher: countingPublisher(jetStream, counts) });
    const { key } = gateway.issueKey(["ingest"]);
    const post = (path: string, body: unknown) =>
      gateway.app.request(path, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": key },
        body: JSON.stringify(body),
      });
    expect((await post("/v1/events", { event: "e", user_id: "u" })).status).toBe(202);
    const batch = { events: [1, 2, 3].map((n) => ({ event: "e", user_id: `u${n}` })) };
    expect((await post("/v1/events/batch", batch)).status).toBe(202);
    const segment = { batch: [1, 2].map((n) => ({ type: "track", event: "e", userId: `s${n}` })) };
    expect((await post("/v1/batch", segment)).status).toBe(200);
    expect(counts.accepted).toBe(1 + 3 + 2);
    jetStream.fail = true;
    expect((await post("/v1/events/batch", batch)).status).toBe(503);
    expect(counts.accepted).toBe(6);
  });

  it("does not count a retry JetStream acknowledged as a duplicate: only the new events", async () => {
    const counts = { accepted: 0 };
    const publisher = countingPublisher(duplicateWindow(), counts);
    const ids = ["0192e4c2-0000-7000-8000-000000000001", "0192e4c2-0000-7000-8000-000000000002"];
    const events = ids.map((id) => ({
      id,
      event: "e",
      user_id: "u",
      received_at: "2026-11-02T10:00:00.000Z",
      request_id: "r",
      key_id: "k",
    }));
    expect(await publisher.publish(events, "first")).toEqual({ newEvents: 2 });
    expect(await publisher.publish(events, "retry")).toEqual({ newEvents: 0 });
    expect(counts.accepted).toBe(2);
  });
});
