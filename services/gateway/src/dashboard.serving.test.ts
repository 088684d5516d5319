import { existsSync } from "node:fs";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { defaultDashboardDir } from "./dashboard-build.ts";
import { dashboardPolicy } from "./routes/dashboard.ts";
import { createTestGateway } from "./testing/index.ts";

// The real build, which `pnpm install` makes (the root `prepare` script); dashboard-build.test.ts covers a
// missing one.
const { app } = createTestGateway();

async function assetPaths(): Promise<string[]> {
  const page = await (await app.request("/dashboard", { headers: { "accept-encoding": "identity" } })).text();
  return [...page.matchAll(/(?:src|href)="(\/dashboard\/assets\/[^"]+)"/g)].map((match) => match[1] as string);
}

describe("GET /dashboard", () => {
  it("is built (run `pnpm install` or `pnpm --filter @evpipe/dashboard build` when this fails)", () => {
    expect(existsSync(join(defaultDashboardDir, "index.html")), defaultDashboardDir).toBe(true);
  });

  it("answers the page, revalidated on every load, under a policy that allows only the gateway itself", async () => {
    const res = await app.request("/dashboard");
    const page = await res.text();
    expect(res.status, page).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("content-security-policy")).toBe(dashboardPolicy);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page).toContain('<label for="api-key">API key</label>');
    expect(page).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
  });

  it("links hashed scripts and styles, each cached for a year", async () => {
    const paths = await assetPaths();
    expect(
      paths.some((path) => /\/index-[\w-]{8}\.js$/.test(path)),
      paths.join(),
    ).toBe(true);
    expect(
      paths.some((path) => /\/index-[\w-]{8}\.css$/.test(path)),
      paths.join(),
    ).toBe(true);
    for (const path of paths) {
      const res = await app.request(path);
      await res.arrayBuffer();
      expect([path, res.status, res.headers.get("cache-control")]).toEqual([
        path,
        200,
        "public, max-age=31536000, immutable",
      ]);
    }
  });

  it("sends Brotli or gzip as Accept-Encoding prefers, the same bytes either way, each with its own ETag", async () => {
    const script = (await assetPaths()).find((path) => path.endsWith(".js")) as string;
    const plain = await app.request(script, { headers: { "accept-encoding": "identity" } });
    const original = Buffer.from(await plain.arrayBuffer());
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(plain.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const br = await app.request(script, { headers: { "accept-encoding": "gzip, deflate, br, zstd" } });
    const gz = await app.request(script, { headers: { "accept-encoding": "gzip, br;q=0.5" } });
    expect([br.headers.get("content-encoding"), gz.headers.get("content-encoding")]).toEqual(["br", "gzip"]);
    expect(brotliDecompressSync(Buffer.from(await br.arrayBuffer()))).toEqual(original);
    expect(gunzipSync(Buffer.from(await gz.arrayBuffer()))).toEqual(original);
    for (const res of [plain, br, gz]) expect(res.headers.get("vary")).toBe("Accept-Encoding");
    expect(new Set([plain, br, gz].map((res) => res.headers.get("etag"))).size).toBe(3);
  });

  it("answers 304 to a client holding the current copy", async () => {
    const script = (await assetPaths()).find((path) => path.endsWith(".js")) as string;
    for (const path of ["/dashboard", script]) {
      const first = await app.request(path, { headers: { "accept-encoding": "br" } });
      await first.arrayBuffer();
      const etag = first.headers.get("etag") as string;
      const again = await app.request(path, { headers: { "accept-encoding": "br", "if-none-match": `W/${etag}` } });
      expect([path, again.status, await again.text(), again.headers.get("etag")]).toEqual([path, 304, "", etag]);
    }
  });

  it("answers 404 in the error envelope for a file the build does not have", async () => {
    for (const name of ["nope.js", "..%2Findex.html", "%2E%2E", "__proto__"]) {
      const res = await app.request(`/dashboard/assets/${name}`);
      const body = (await res.json()) as { error: { code: string } };
      expect([name, res.status, body.error.code], JSON.stringify(body)).toEqual([name, 404, "NOT_FOUND"]);
    }
  });
});
