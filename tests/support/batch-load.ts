import { expect } from "vitest";
import { type BatchAccepted, events, postJson } from "./http.ts";

export interface BatchLoad {
  /** Every id accepted so far. */
  readonly accepted: string[];
  /** Stops sending, waits for the requests under way, and resolves with every accepted id. */
  stop(): Promise<string[]>;
}

/** Four producers sending 50-event batches back to back to the gateway until stopped; each must get its 202. */
export function startBatchLoad(target: { gatewayUrl: string; key: string; prefix: string }): BatchLoad {
  const accepted: string[] = [];
  let sending = true;
  const producers = Array.from({ length: 4 }, async () => {
    while (sending) {
      const res = await postJson<BatchAccepted>(
        target.gatewayUrl,
        "/v1/events/batch",
        { events: events(50, target.prefix) },
        { "x-api-key": target.key },
      );
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      accepted.push(...res.body.ids);
    }
  });
  return {
    accepted,
    async stop() {
      sending = false;
      await Promise.all(producers);
      return accepted;
    },
  };
}
