import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, watchedPage } from "./support/browser.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";

const services = usePipelineServices({ consumerEnv: false });
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

describe("GET /docs in headless Chromium", () => {
  it("renders every route group from the gateway alone, with no console error", async () => {
    const { page, requests, errors } = await watchedPage(browser);
    const gateway = new URL(services.gateway.url);
    await page.goto(`${gateway.origin}/docs`, { waitUntil: "networkidle" });
    for (const text of ["/v1/events/batch", "/v1/stats/dau", "/v1/events/{id}", "/openapi.json", "/healthz"]) {
      await page.getByText(text, { exact: true }).first().waitFor({ state: "visible", timeout: 15_000 });
    }
    await page.getByText("Authorize").first().waitFor({ state: "visible" });
    // An artifact outside the repo, overwritten by each run: $EVPIPE_ARTIFACTS or <tmp>/evpipe-artifacts.
    const artifacts = process.env.EVPIPE_ARTIFACTS ?? join(tmpdir(), "evpipe-artifacts");
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "docs.png"), fullPage: true });

    const elsewhere = requests.filter((url) => url.origin !== gateway.origin && url.protocol !== "data:");
    expect(elsewhere.map(String)).toEqual([]);
    expect(errors).toEqual([]);
    expect(requests.map((url) => url.pathname)).toEqual(
      expect.arrayContaining(["/docs", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/docs.js", "/openapi.json"]),
    );
  });

  it("serves its assets with their content types and cache headers", async () => {
    const base = services.gateway.url;
    const expected = [
      ["/docs", "text/html; charset=UTF-8", "no-cache"],
      ["/docs/assets/swagger-ui.css", "text/css; charset=utf-8", "public, max-age=86400"],
      ["/docs/assets/swagger-ui-bundle.js", "text/javascript; charset=utf-8", "public, max-age=86400"],
      ["/docs/assets/docs.js", "text/javascript; charset=utf-8", "public, max-age=86400"],
      ["/docs/assets/favicon-32x32.png", "image/png", "public, max-age=86400"],
    ];
    for (const [path, type, cacheControl] of expected) {
      const res = await fetch(`${base}${path}`);
      await res.arrayBuffer();
      expect([path, res.status, res.headers.get("content-type"), res.headers.get("cache-control")]).toEqual([
        path,
        200,
        type,
        cacheControl,
      ]);
    }
    const asset = await fetch(`${base}/docs/assets/swagger-ui.css`);
    await asset.arrayBuffer();
    const again = await fetch(`${base}/docs/assets/swagger-ui.css`, {
      headers: { "if-none-match": asset.headers.get("etag") ?? "" },
    });
    expect(again.status).toBe(304);
    const missing = await fetch(`${base}/docs/assets/package.json`);
    expect(missing.status, await missing.text()).toBe(404);
  });
});
