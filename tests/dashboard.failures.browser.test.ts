import { randomUUID } from "node:crypto";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, watchedPage } from "./support/browser.ts";
import { openDashboard, panelIn, pipelineRequests } from "./support/dashboard-page.ts";
import { postJson } from "./support/http.ts";
import { uniqueId } from "./support/pipeline.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { waitFor } from "./support/wait-for.ts";

// The gateway samples every second, and the page polls as often as it says (at most once a second).
const refreshMs = 1000;
const services = usePipelineServices({
  key: { scopes: ["ingest", "read"] },
  gatewayEnv: { PIPELINE_SAMPLE_INTERVAL_MS: String(refreshMs) },
});
const stored = { id: randomUUID(), event: "signup", user_id: uniqueId("dash-failures-") };
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
  const res = await postJson(
    services.gateway.url,
    "/v1/events/batch",
    { events: [stored] },
    { "x-api-key": services.key },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await waitFor("the event to be stored", async () => (await services.pipeline.storedCount([stored.id])) === 1);
});

afterAll(async () => {
  await browser?.close();
});

const openWithKey = (page: Page, key: string) => openDashboard(page, services.gateway.url, key);

describe("the dashboard in headless Chromium, when things go wrong", () => {
  it("says so when the key is wrong, lacks the read scope, or the gateway cannot be reached", async () => {
    const { page } = await watchedPage(browser);
    await openWithKey(page, "evp_not_a_real_key_0000000000000000");
    const message = page.locator("#key-message");
    await expect.poll(() => message.textContent()).toContain("did not accept this API key");
    await panelIn(page, "dau", "idle");
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    const ingestOnly = await services.pipeline.createKey(["ingest"]);
    await page.getByLabel("API key").fill(ingestOnly.key);
    await page.getByRole("button", { name: "Show", exact: true }).first().click();
    await expect.poll(() => message.textContent()).toContain("lacks the read scope");

    await page.route("**/v1/**", (route) => route.abort("connectionrefused"));
    await page.getByLabel("API key").fill(services.key);
    await page.getByRole("button", { name: "Show", exact: true }).first().click();
    await panelIn(page, "dau", "error");
    expect(await page.locator("#dau .status").textContent()).toContain("Cannot reach the gateway");
    await page.close();
  });

  it("shows a busy gateway and an answer it cannot read as errors, and asks a busy one again", async () => {
    const { page, errors } = await watchedPage(browser);
    // The real gateway answers 503 only while its store is down and never sends a body off its own schema:
    // these two answers are made up here, every other one is the gateway's.
    const busy = {
      status: 503,
      headers: { "Retry-After": "1" },
      contentType: "application/json",
      body: JSON.stringify({
        error: { code: "UNAVAILABLE", message: "The event store is unavailable.", request_id: "r-busy" },
      }),
    };
    let dauAsked = 0;
    await page.route("**/v1/stats/dau?*", (route) => {
      dauAsked++;
      return route.fulfill(busy);
    });
    let retentionAsked = 0;
    await page.route("**/v1/stats/retention?*", (route) => {
      retentionAsked++;
      return retentionAsked === 1 ? route.fulfill(busy) : route.fallback();
    });
    await page.route("**/v1/stats/top-events?*", (route) =>
      route.fulfill({
        json: { from: "2026-01-01", to: "2026-01-01", events: [{ event: "view", count: -1, users: 1 }] },
      }),
    );
    await openWithKey(page, services.key);

    const status = (id: string) => page.locator(`#${id} .status`);
    await panelIn(page, "top-events", "error");
    expect(await status("top-events").textContent()).toMatch(
      /^The gateway's answer to \/v1\/stats\/top-events\?.* is not what this page expects \(events\.0\.count: /,
    );
    await panelIn(page, "dau", "error");
    expect(await status("dau").textContent()).toContain(
      "cannot answer right now: The event store is unavailable. (request r-busy)",
    );
    // Asked again after the Retry-After: the second answer is the gateway's own.
    await panelIn(page, "retention", "ready");
    expect(retentionAsked).toBe(2);
    // A gateway that stays busy is asked a bounded number of times, then the page hands over to the person.
    await expect.poll(() => status("dau").textContent(), { timeout: 15_000 }).toContain("Press Apply to try again.");
    expect(dauAsked).toBe(4);
    expect(await page.locator("#dau").getAttribute("data-state")).toBe("error");
    expect(errors.filter((error) => !error.includes("503"))).toEqual([]);
    await page.close();
  });

  it("flags a sample older than three refreshes instead of showing it as live", async () => {
    const { page } = await watchedPage(browser);
    // The gateway itself stops answering an old sample (503): an old one that still arrives is made up here.
    await page.route("**/v1/pipeline", async (route) => {
      const response = await route.fetch();
      const summary = (await response.json()) as { sampled_at: string };
      summary.sampled_at = new Date(Date.now() - 42_000).toISOString();
      return route.fulfill({ response, json: summary });
    });
    await openWithKey(page, services.key);
    await panelIn(page, "pipeline", "ready", 30_000);
    const stale = page.locator("#pipeline .stale");
    await stale.waitFor({ state: "visible" });
    expect(await stale.textContent()).toMatch(/^Last sampled 4\d s ago: these numbers are not live\.$/);
    expect(await page.locator("#pipeline").getAttribute("data-stale")).toBe("true");
    await page.close();
  });

  it("stops polling the pipeline once the key is revoked, and clears what the key fetched", async () => {
    const { page, requests, errors } = await watchedPage(browser);
    const { id, key } = await services.pipeline.createKey(["read"], "dashboard-revoked");
    await openWithKey(page, key);
    await panelIn(page, "pipeline", "ready", 30_000);
    await page.getByLabel("Event id").fill(stored.id);
    await page.getByRole("button", { name: "Look up" }).click();
    await panelIn(page, "event-lookup", "ready");
    await waitFor("a second poll of the pipeline", () => pipelineRequests(requests).length >= 2);

    await services.pipeline.revokeKey(id);
    await expect
      .poll(() => page.locator("#key-message").textContent(), { timeout: 15_000 })
      .toContain("did not accept this API key");
    const polledAtRejection = pipelineRequests(requests).length;
    const rejectedAt = Number(await page.evaluate("performance.now()"));
    for (const panel of ["pipeline", "dau", "event-lookup", "user-events"]) await panelIn(page, panel, "idle");
    expect(await page.locator("#event-lookup").textContent()).not.toContain(stored.id);

    // Nothing marks a request that never comes, so the wait is for the page's own clock to pass three of its
    // refresh intervals (each would have been one more poll); the page keeps running its timers meanwhile.
    const intervals = 3;
    await page.waitForFunction((until) => performance.now() >= until, rejectedAt + intervals * refreshMs + 250, {
      timeout: 15_000,
      polling: 100,
    });
    expect(pipelineRequests(requests).length).toBe(polledAtRejection);
    expect(requests.filter((url) => url.href.includes(key)).map(String)).toEqual([]);
    expect(errors.filter((error) => !error.includes("401"))).toEqual([]);
    await page.close();
  });
});
