import type { ClientRequest, IncomingMessage, RequestOptions } from "node:http";
import { loadTest } from "loadtest";
import { type LoadOptions, type LoadResult, type RunningLoad, requestBody } from "./load.ts";

/** What loadtest 8 gives its callback; its bundled typings predate most of it. */
interface SteadyResult {
  totalRequests: number;
  /** On process.hrtime's clock, not the wall clock. */
  startTimeMs: number;
  stopTimeMs: number;
  maxLatencyMs: number;
  percentiles: Record<50 | 90 | 95 | 99, number | false>;
}

type RequestFunction = (params: RequestOptions, callback: (response: IncomingMessage) => void) => ClientRequest;

/**
 * POSTs at a steady rate, an open model: loadtest starts a request every 1/rate s on its own clock, whether or
 * not earlier answers have come, on as many keep-alive connections as are busy at once. A slow answer delays no
 * later request, so the latencies are those of requests arriving one by one, as a steady producer sends them.
 * (autocannon's overallRate is no such thing: each connection sends its share of a second back to back at the
 * start of the second and then waits, so the gateway sees bursts of `connections` requests at once.)
 * loadtest keeps whole milliseconds, rounded down: a p99 of 9 is under 10 ms.
 */
export function runSteadyLoad(path: string, options: LoadOptions & { overallRate: number }): RunningLoad {
  const statusCounts: Record<string, number> = {};
  let errors = 0;
  let accepted = 0;
  const started = new Date();
  const next = requestBody(options.body);
  const done = new Promise<LoadResult>((resolve, reject) => {
    loadTest(
      {
        url: `${options.url}${path}`,
        method: "POST",
        headers: options.headers ?? { "content-type": "application/json", "x-api-key": options.apiKey },
        requestsPerSecond: options.overallRate,
        maxSeconds: options.durationS,
        agentKeepAlive: true,
        quiet: true,
        // The body made here rather than by loadtest, which writes it without a Content-Length (chunked).
        requestGenerator(_options: unknown, params: RequestOptions, request: RequestFunction, callback) {
          const body = next();
          params.headers = { ...params.headers, "content-length": String(Buffer.byteLength(body)) };
          const sent = request(params, callback as (response: IncomingMessage) => void);
          sent.write(body);
          return sent;
        },
        statusCallback(error: Error | null, result?: { statusCode?: number }) {
          if (result?.statusCode === undefined) {
            if (error) errors++;
            return;
          }
          const status = String(result.statusCode);
          statusCounts[status] = (statusCounts[status] ?? 0) + 1;
          if (result.statusCode >= 200 && result.statusCode < 300) accepted++;
        },
      },
      (err: Error | null, raw: unknown) => {
        if (err) {
          reject(err);
          return;
        }
        // The shape loadtest 8.2 returns (lib/result.js), which its typings do not declare.
        const result = raw as SteadyResult;
        const percentile = (value: number | false) => (value === false ? result.maxLatencyMs : value);
        resolve({
          start: started,
          finish: new Date(),
          durationS: (result.stopTimeMs - result.startTimeMs) / 1000,
          accepted,
          non2xx: Object.entries(statusCounts).reduce(
            (sum, [status, count]) => (status.startsWith("2") ? sum : sum + count),
            0,
          ),
          statusCounts,
          errors,
          latencyMs: {
            p50: percentile(result.percentiles[50]),
            p99: percentile(result.percentiles[99]),
            max: result.maxLatencyMs,
          },
        });
      },
    );
  });
  // loadtest 8 gives no handle to stop it early: an aborted run waits out this phase's durationS.
  return { done, stop: () => {} };
}
