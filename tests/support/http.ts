import type { PipelineSummary } from "@evpipe/shared/api-responses";
import { waitFor } from "./wait-for.ts";

export interface JsonResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export async function postJson<T = Record<string, unknown>>(
  baseUrl: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const res = await fetch(baseUrl + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as T };
}

export interface BatchAccepted {
  accepted: number;
  ids: string[];
  received_at: string;
}

export function events(count: number, prefix = "evt"): Array<{ event: string; user_id: string }> {
  return Array.from({ length: count }, (_, i) => ({ event: `${prefix}-${i % 7}`, user_id: `user-${i % 13}` }));
}

/** GET /v1/pipeline with a read key; any answer but 200 throws, with its body. */
export async function getPipelineSummary(baseUrl: string, key: string): Promise<PipelineSummary> {
  const res = await fetch(`${baseUrl}/v1/pipeline`, {
    headers: { "x-api-key": key },
    signal: AbortSignal.timeout(10_000),
  });
  const body: unknown = await res.json();
  if (res.status !== 200) throw new Error(`GET /v1/pipeline: ${res.status} ${JSON.stringify(body)}`);
  // Its shape is checked against the response schema by tests/gateway.openapi.test.ts and the route's unit test.
  return body as PipelineSummary;
}

/** Polls GET /v1/pipeline until `done` holds; a failure shows the last summary seen. */
export async function pipelineSummaryWhere(
  baseUrl: string,
  key: string,
  what: string,
  done: (summary: PipelineSummary) => boolean,
  timeoutMs = 20_000,
): Promise<PipelineSummary> {
  let last: PipelineSummary | undefined;
  try {
    return await waitFor(
      what,
      async () => {
        last = await getPipelineSummary(baseUrl, key);
        return done(last) && last;
      },
      { timeoutMs, intervalMs: 100 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; the last summary: ${JSON.stringify(last)}`);
  }
}
