import { errorEnvelope } from "@evpipe/gateway/testing";
import { describe, expect, it } from "vitest";
import { type BatchAccepted, events, postJson } from "./support/http.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";

// The smallest cap the configuration allows, and no consumer: the stream fills up.
const services = usePipelineServices({ gatewayEnv: { EVENTS_MAX_BYTES: String(1024 * 1024) }, consumerEnv: false });

describe("a full EVENTS stream", () => {
  it("answers 503 UNAVAILABLE once the stream is full, and every 202 before it is in the stream", async () => {
    let accepted = 0;
    let refused: Awaited<ReturnType<typeof postJson<BatchAccepted>>> | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const res = await postJson<BatchAccepted>(
        services.gateway.url,
        "/v1/events/batch",
        { events: events(100) },
        { "x-api-key": services.key },
      );
      if (res.status === 202) accepted++;
      else refused = res;
    }
    expect(accepted).toBeGreaterThan(5);
    expect(refused?.status, JSON.stringify(refused?.body)).toBe(503);
    const res = refused as NonNullable<typeof refused>;
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.body).toEqual(
      errorEnvelope(res.headers, "UNAVAILABLE", "The event bus did not acknowledge in time; retry with the same ids."),
    );
    // discard: new refuses the newest; nothing accepted was dropped to make room.
    const info = await services.pipeline.jsm.streams.info(services.pipeline.names.eventsStream);
    expect(info.config.max_bytes).toBe(1024 * 1024);
    expect(info.state.messages).toBe(accepted);
    expect(info.state.first_seq).toBe(1);
    // Still full for a batch of that size: refused again, and nothing else changed.
    const again = await postJson(
      services.gateway.url,
      "/v1/events/batch",
      { events: events(100) },
      { "x-api-key": services.key },
    );
    expect(again.status).toBe(503);
    expect((await services.pipeline.jsm.streams.info(services.pipeline.names.eventsStream)).state.messages).toBe(
      accepted,
    );
  });
});
