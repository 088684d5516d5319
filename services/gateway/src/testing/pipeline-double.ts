import type { PipelineSummary } from "@evpipe/shared/api-responses";
import type { PipelineSummarySource } from "../pipeline/summary-source.ts";

/** A summary with every part present: a destination, both reasons, a capped stream. */
export const sampleSummary: PipelineSummary = {
  sampled_at: "2026-11-02T10:00:00.000Z",
  refresh_ms: 2000,
  ingest: { accepted_per_second: 120.5, stored_per_second: 118, gateways: 2, consumers: 1 },
  writer: { lag: 3, pending: 1, unacknowledged: 2 },
  events_stream: { messages: 1000, bytes: 250_000, max_bytes: 10 * 1024 ** 3 },
  dead_letters: { messages: 3, by_reason: { retries_exhausted: 1, permanent_error: 2 } },
  destinations: [
    {
      name: "hook",
      type: "webhook",
      state: "active",
      lag: 0,
      delivered: 10,
      failed: 1,
      retried: 2,
      dead_letters: 1,
      last_success_at: "2026-11-02T09:59:59.000Z",
      last_error: { at: "2026-11-02T09:59:00.000Z", message: "HTTP 400" },
    },
  ],
};

/** A source answering `summary` (undefined: nothing sampled yet) whoever asks. */
export function pipelineAnswering(summary: PipelineSummary | undefined = sampleSummary): PipelineSummarySource {
  return { refreshMs: summary?.refresh_ms ?? 2000, summary: async () => summary };
}
