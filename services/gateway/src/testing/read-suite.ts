import { expect, it } from "vitest";
import type { GatewayDeps } from "../app.ts";
import { StoreUnavailable } from "../reads.ts";
import { errorEnvelope } from "./error-envelope.ts";
import type { InvalidReadQuery } from "./read-parameter-cases.ts";
import { createTestGateway } from "./test-deps.ts";

/** A test gateway over the given reads, and a GET with a `read` key that parses the JSON answer. */
export function createReadTestGateway(overrides: Partial<GatewayDeps>) {
  const gateway = createTestGateway(overrides);
  const { key } = gateway.issueKey(["read"]);
  const get = async (path: string) => {
    const res = await gateway.app.request(path, { headers: { "x-api-key": key } });
    return { res, body: (await res.json()) as Record<string, unknown> };
  };
  return { gateway, get };
}

type ReadTestGateway = ReturnType<typeof createReadTestGateway>;

/** Each query is answered 400 naming its bad parameter, before anything is read. */
export function itRefusesInvalidQueries(queries: readonly InvalidReadQuery[], makeGateway: () => ReadTestGateway) {
  it.each(queries)("answers 400 naming the bad parameter of %s, without reading", async (path, details) => {
    const { gateway, get } = makeGateway();
    const { res, body } = await get(path);
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(body).toEqual(
      errorEnvelope(
        res.headers,
        "VALIDATION_ERROR",
        `${Object.keys(details).length} query parameter(s) are invalid.`,
        details,
      ),
    );
    expect(gateway.reads).toEqual([]);
  });
}

/**
 * Over a failing store each path answers 503 with Retry-After when the store is unavailable, and a generic 500
 * on any other failure: `internal.error` is one, and `internal.leaks` what of it must not reach the client.
 */
export function itReportsStoreFailures(
  paths: readonly string[],
  gatewayFailingWith: (err: Error) => ReadTestGateway,
  internal: { error: Error; leaks: RegExp },
) {
  it.each(paths)("answers %s with 503 UNAVAILABLE and Retry-After when the store is unavailable", async (path) => {
    const { get } = gatewayFailingWith(new StoreUnavailable("PostgreSQL is unreachable (ECONNREFUSED)"));
    const { res, body } = await get(path);
    expect(res.status, JSON.stringify(body)).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(body).toEqual(errorEnvelope(res.headers, "UNAVAILABLE", "The event store is unavailable; retry shortly."));
  });

  it.each(paths)("answers %s with a generic 500 on any other failure, leaking nothing", async (path) => {
    const { get } = gatewayFailingWith(internal.error);
    const { res, body } = await get(path);
    expect(res.status, JSON.stringify(body)).toBe(500);
    expect(JSON.stringify(body)).not.toMatch(internal.leaks);
    expect(body).toEqual(
      errorEnvelope(res.headers, "INTERNAL", "Internal error; quote the request id when reporting it."),
    );
  });
}
