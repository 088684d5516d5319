import autocannon from "autocannon";

/** One body for every request, or a function that gives each request a body of its own. */
export type LoadBody = string | (() => string | Buffer);

export interface LoadOptions {
  url: string;
  apiKey: string;
  body: LoadBody;
  /** Replace the default headers (JSON, the key in X-API-Key). */
  headers?: Record<string, string>;
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

/** Each request's body, made just before it is sent. */
export function requestBody(body: LoadBody): () => string | Buffer {
  return typeof body === "string" ? () => body : body;
}

function bodyOptions(body: LoadBody): Pick<autocannon.Options, "body" | "requests"> {
  if (typeof body === "string") return { body };
  return { requests: [{ setupRequest: (request) => ({ ...request, body: body() }) }] };
}

/**
 * POSTs the body on `connections` keep-alive connections for `durationS`: the same one on every request, or
 * one made for each request by autocannon's setupRequest hook just before it is sent. Requests still in
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
        headers: options.headers ?? { "content-type": "application/json", "x-api-key": options.apiKey },
        ...bodyOptions(options.body),
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
