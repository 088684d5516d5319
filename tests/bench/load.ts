import autocannon from "autocannon";

export interface LoadOptions {
  url: string;
  apiKey: string;
  body: string;
  connections: number;
  durationS: number;
}

export interface LoadResult {
  start: Date;
  finish: Date;
  durationS: number;
  /** 2xx responses: requests whose events the gateway accepted. */
  accepted: number;
  non2xx: number;
  statusCounts: Record<string, number>;
  /** Connection errors and timeouts. */
  errors: number;
  latencyMs: { p50: number; p99: number; max: number };
}

export interface RunningLoad {
  done: Promise<LoadResult>;
  stop(): void;
}

/**
 * POSTs the same JSON body on `connections` keep-alive connections for `durationS`. Requests still in
 * flight at the end are abandoned by autocannon: the gateway may have accepted them without a 2xx being
 * counted here.
 */
export function runLoad(path: string, options: LoadOptions): RunningLoad {
  let instance: autocannon.Instance | undefined;
  const done = new Promise<LoadResult>((resolve, reject) => {
    instance = autocannon(
      {
        url: `${options.url}${path}`,
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": options.apiKey },
        body: options.body,
        connections: options.connections,
        duration: options.durationS,
      },
      (err, result) => {
        if (err) {
          reject(err);
          return;
        }
        const statusCounts: Record<string, number> = {};
        for (const [status, stats] of Object.entries(result.statusCodeStats ?? {})) {
          statusCounts[status] = stats.count ?? 0;
        }
        resolve({
          start: result.start,
          finish: result.finish,
          durationS: result.duration,
          accepted: result["2xx"],
          non2xx: result.non2xx,
          statusCounts,
          errors: result.errors,
          latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
        });
      },
    );
  });
  return { done, stop: () => instance?.stop() };
}
