import type { Scope } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { errorEnvelope } from "./error-envelope.ts";
import type { createTestGateway } from "./test-deps.ts";

export interface ProtectedRoute {
  method: "GET" | "POST";
  path: string;
  scope: Scope;
  /** A body that would be accepted with the right key, so only auth can explain a rejection. */
  body?: unknown;
  /** The route's 401 challenge and message, when not our own API's bearer ones. */
  unauthorized?: { wwwAuthenticate: string; message: string };
  /** Ways beyond X-API-Key and Authorization: Bearer that the route takes its key in. */
  moreKeyHeaders?: (key: string) => Array<Record<string, string>>;
}

const bearerUnauthorized = {
  wwwAuthenticate: 'Bearer realm="evpipe"',
  message: "A valid API key is required (X-API-Key or Authorization: Bearer).",
};

type TestGateway = ReturnType<typeof createTestGateway>;

function request(route: ProtectedRoute, headers: Record<string, string>): RequestInit {
  return {
    method: route.method,
    headers: { "content-type": "application/json", ...headers },
    ...(route.body === undefined ? {} : { body: JSON.stringify(route.body) }),
  };
}

/**
 * What the route does once a request is let through: a POST publishes, a GET reads. Each refusal must leave
 * it undone, and the right key must do it, so the check is one that could fail for this route.
 */
function effectsOf(route: ProtectedRoute, gateway: TestGateway): unknown[] {
  return route.method === "POST" ? gateway.published : gateway.reads;
}

const effectName = (route: ProtectedRoute) => (route.method === "POST" ? "published" : "read");

function expectUndone(route: ProtectedRoute, gateway: TestGateway) {
  expect(effectsOf(route, gateway), `nothing ${effectName(route)}`).toEqual([]);
}

async function expectUnauthorizedAnswer(route: ProtectedRoute, gateway: TestGateway, headers: Record<string, string>) {
  const res = await gateway.app.request(route.path, request(route, headers));
  const body = await res.json();
  const { wwwAuthenticate, message } = route.unauthorized ?? bearerUnauthorized;
  expect(res.status, JSON.stringify(body)).toBe(401);
  expect(res.headers.get("www-authenticate")).toBe(wwwAuthenticate);
  expect(body).toEqual(errorEnvelope(res.headers, "UNAUTHORIZED", message));
  expectUndone(route, gateway);
}

/**
 * The security cases every authenticated route must pass; each route's test file calls this once, so a new
 * route cannot forget one.
 */
export function describeSecurity(route: ProtectedRoute, makeGateway: () => TestGateway) {
  describe(`${route.method} ${route.path} security`, () => {
    const otherScope: Scope = route.scope === "ingest" ? "read" : "ingest";
    const effect = effectName(route);
    const expectNothingDone = (gateway: TestGateway) => expectUndone(route, gateway);
    const expectUnauthorized = (gateway: TestGateway, headers: Record<string, string>) =>
      expectUnauthorizedAnswer(route, gateway, headers);

    it("rejects a request without a key", async () => {
      await expectUnauthorized(makeGateway(), {});
    });

    it("rejects a malformed key", async () => {
      await expectUnauthorized(makeGateway(), { "x-api-key": "not-a-key" });
    });

    it("rejects a well-formed key with a wrong checksum", async () => {
      const gateway = makeGateway();
      const { key } = gateway.issueKey([route.scope]);
      const typo = `${key.slice(0, 10)}${key[10] === "a" ? "b" : "a"}${key.slice(11)}`;
      await expectUnauthorized(gateway, { "x-api-key": typo });
    });

    it("rejects an unknown key", async () => {
      const gateway = makeGateway();
      const stranger = makeGateway().issueKey([route.scope]);
      await expectUnauthorized(gateway, { "x-api-key": stranger.key });
    });

    it("rejects a revoked key, by either header", async () => {
      const gateway = makeGateway();
      const { key, id } = gateway.issueKey([route.scope]);
      gateway.revoke(id);
      await expectUnauthorized(gateway, { "x-api-key": key });
      await expectUnauthorized(gateway, { authorization: `Bearer ${key}` });
    });

    it("refuses a key in the query string, even beside a valid header", async () => {
      const gateway = makeGateway();
      const { key } = gateway.issueKey([route.scope]);
      for (const query of [`?api_key=${key}`, `?key=${key}`, `?token=x`, `?q=${key}`]) {
        const url = route.path.includes("?") ? `${route.path}&${query.slice(1)}` : route.path + query;
        const res = await gateway.app.request(url, request(route, { "x-api-key": key }));
        const body = await res.json();
        expect(res.status, `${query}: ${JSON.stringify(body)}`).toBe(401);
        expect(body).toEqual(
          errorEnvelope(
            res.headers,
            "UNAUTHORIZED",
            "API keys are not accepted in the URL; send X-API-Key or Authorization: Bearer.",
          ),
        );
      }
      expectNothingDone(gateway);
    });

    it(`answers 403 to a key without the ${route.scope} scope`, async () => {
      const gateway = makeGateway();
      const { key } = gateway.issueKey([otherScope]);
      const res = await gateway.app.request(route.path, request(route, { "x-api-key": key }));
      const body = await res.json();
      expect(res.status, JSON.stringify(body)).toBe(403);
      expect(body).toEqual(errorEnvelope(res.headers, "FORBIDDEN", `This API key lacks the "${route.scope}" scope.`));
      expectNothingDone(gateway);
    });

    it(`accepts the right key by X-API-Key, Authorization: Bearer and the route's other ways; the request is ${effect}`, async () => {
      const gateway = makeGateway();
      const { key } = gateway.issueKey([route.scope]);
      const variants: Array<Record<string, string>> = [
        { "x-api-key": key },
        { authorization: `Bearer ${key}` },
        ...(route.moreKeyHeaders?.(key) ?? []),
      ];
      for (const headers of variants) {
        const res = await gateway.app.request(route.path, request(route, headers));
        expect(res.status, await res.text()).toBeLessThan(300);
      }
      expect(effectsOf(route, gateway)).toHaveLength(variants.length);
    });
  });
}
