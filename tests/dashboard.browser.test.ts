import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { Browser, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, watchedPage } from "./support/browser.ts";
import {
  addDays,
  artifactsDir,
  expectedDau,
  expectedTopEvents,
  hoverDauBar,
  inkedPixels,
  openDashboard,
  panelIn,
  pipelineRequests,
  type SentEvent,
  tableRows,
  transferSizes,
} from "./support/dashboard-page.ts";
import { postJson } from "./support/http.ts";
import { uniqueId } from "./support/pipeline.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { waitFor } from "./support/wait-for.ts";

// Reports every second, so a rate is known (and taken over 5 s) soon after start; the page polls every second.
const reportEvery = { PIPELINE_REPORT_INTERVAL_MS: "1000" };
const services = usePipelineServices({
  key: { scopes: ["ingest", "read"] },
  gatewayEnv: { ...reportEvery, PIPELINE_SAMPLE_INTERVAL_MS: "1000" },
  consumerEnv: reportEvery,
});
const run = uniqueId("dash-");
const today = new Date().toISOString().slice(0, 10);
// [user, event, days ago]: every day in the past, so no client_ts is ever in the future.
const plan: [string, string, number][] = [
  ["a", "signup", 20],
  ["a", "view", 20],
  ["b", "signup", 20],
  ["a", "view", 19],
  ["b", "view", 18],
  ["a", "view", 13],
  ["a", "purchase", 10],
  ["c", "signup", 10],
  ["c", "view", 3],
  ["d", "signup", 3],
  ["a", "view", 1],
  ["c", "view", 1],
  ["c", "purchase", 1],
  ["d", "view", 1],
  ["e", "signup", 1],
];
const sent: SentEvent[] = plan.map(([user, event, ago], index) => ({
  id: randomUUID(),
  event,
  user_id: `${run}-${user}`,
  client_ts: `${addDays(today, -ago)}T10:${String(index).padStart(2, "0")}:00Z`,
}));
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
  const res = await postJson(services.gateway.url, "/v1/events/batch", { events: sent }, { "x-api-key": services.key });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await waitFor(
    "every event to be stored",
    async () => (await services.pipeline.storedCount(sent.map((e) => e.id))) === sent.length,
  );
});

afterAll(async () => {
  await browser?.close();
});

async function sendAndStore(events: SentEvent[] | Record<string, unknown>[]): Promise<void> {
  const res = await postJson(services.gateway.url, "/v1/events/batch", { events }, { "x-api-key": services.key });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const ids = events.map((event) => String(event.id));
  await waitFor("the events to be stored", async () => (await services.pipeline.storedCount(ids)) === ids.length);
}

const openWithKey = (page: Page, key: string) => openDashboard(page, services.gateway.url, key);

describe("the dashboard in headless Chromium", () => {
  it("draws what the pipeline stored, from the gateway alone, at 1440 and 375 px", async () => {
    const { page, requests, errors } = await watchedPage(browser);
    await page.setViewportSize({ width: 1440, height: 900 });
    await openWithKey(page, services.key);
    for (const panel of ["dau", "top-events", "retention"]) await panelIn(page, panel, "ready");

    expect(await inkedPixels(page, "#dau canvas")).toBeGreaterThan(500);
    const from = await page.locator("#range-from").inputValue();
    const to = await page.locator("#range-to").inputValue();
    expect([from, to]).toEqual([addDays(today, -29), today]);
    const dau = expectedDau(sent, from, to);
    await page.locator("#dau summary").click();
    expect(await tableRows(page, "#dau .numbers")).toEqual(dau);
    // uPlot's legend under the chart gives the hovered day's number.
    const yesterday = dau.findIndex(([day]) => day === addDays(today, -1));
    expect(await hoverDauBar(page, yesterday, dau.length)).toEqual([addDays(today, -1), "4"]);
    expect(await hoverDauBar(page, yesterday - 19, dau.length)).toEqual([addDays(today, -20), "2"]);

    expect(await tableRows(page, "#top-events")).toEqual(expectedTopEvents(sent));
    expect(expectedTopEvents(sent)).toEqual([
      ["view", "8", "4"],
      ["signup", "5", "5"],
      ["purchase", "2", "2"],
    ]);
    // a and b, first seen 20 days ago: a back the next day and 7 days later, b two days later.
    const [firstCohort] = await tableRows(page, "#retention");
    expect(firstCohort).toEqual([addDays(today, -20), "2", "100%", "50%", "50%", "0%", "0%", "0%", "0%", "50%"]);

    const probe = sent[6] as SentEvent;
    await page.getByLabel("Event id").fill(probe.id);
    await page.getByRole("button", { name: "Look up" }).click();
    await panelIn(page, "event-lookup", "ready");
    const fields = await page.locator("#event-lookup dl.fields").textContent();
    for (const value of [probe.id, probe.event, probe.user_id, `${probe.client_ts.slice(0, 10)} 10:06:00 UTC`]) {
      expect(fields).toContain(value);
    }
    await page.getByLabel("User id").fill(`${run}-a`);
    await page.locator("#user-form button").click();
    await panelIn(page, "user-events", "ready");
    const userRows = await tableRows(page, "#user-events");
    expect(userRows.map((row) => row[1])).toEqual(["view", "purchase", "view", "view", "view", "signup"]);

    // Operators' panel, from GET /v1/pipeline: one accepted request is one message, nothing dead-lettered. A
    // second batch, sent now, gives the rates (taken over the last 5 s of reports) something to show.
    await panelIn(page, "pipeline", "ready", 30_000);
    await sendAndStore([{ id: randomUUID(), event: "pulse", user_id: `${run}-pulse` }]);
    const tile = (label: string) => page.locator("#pipeline .tile").filter({ hasText: label }).locator(".value");
    await expect.poll(() => tile("Consumer lag").textContent(), { timeout: 30_000 }).toBe("0");
    expect(await tile("Dead letters").textContent()).toBe("0");
    await expect.poll(() => tile("Events stream").textContent(), { timeout: 10_000 }).toBe("2");
    const rate = /^(?!0\.0\/s)[\d.,]+\/s$/;
    await expect.poll(() => tile("Accepted").textContent(), { timeout: 15_000 }).toMatch(rate);
    await expect.poll(() => tile("Stored").textContent(), { timeout: 15_000 }).toMatch(rate);
    // Two more samples, so the chart draws the rate as a line rather than a single point.
    const polled = pipelineRequests(requests).length;
    await waitFor("two more samples of the pipeline", () => pipelineRequests(requests).length >= polled + 2);
    expect(await page.locator("#pipeline .stale").isVisible()).toBe(false);
    expect(await page.locator("#pipeline").textContent()).toContain("No destinations");

    await page.locator("#dau summary").click();
    await page.screenshot({ path: join(artifactsDir(), "dashboard-1440.png"), fullPage: true });
    await page.setViewportSize({ width: 375, height: 812 });
    // Expressions, not functions: this file is type-checked for Node, without the DOM's types.
    const scrollWidth = async () => Number(await page.evaluate("document.scrollingElement.scrollWidth"));
    await waitFor("the page to fit 375 px", async () => (await scrollWidth()) <= 375, { timeoutMs: 5000 }).catch(
      () => undefined,
    );
    expect(await scrollWidth()).toBeLessThanOrEqual(375);
    expect(await inkedPixels(page, "#dau canvas")).toBeGreaterThan(500);
    await page.screenshot({ path: join(artifactsDir(), "dashboard-375.png"), fullPage: true });

    const gateway = new URL(services.gateway.url).origin;
    expect(requests.filter((url) => url.origin !== gateway).map(String)).toEqual([]);
    // The key travels in the X-API-Key header only: a URL ends up in logs and in the browser's history.
    expect(requests.filter((url) => url.href.includes(services.key)).map(String)).toEqual([]);
    expect(requests.filter((url) => url.pathname.startsWith("/v1/")).length).toBeGreaterThan(5);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("loads to charts drawn from a session that holds the key: measured, not asserted", async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await context.addInitScript((key) => sessionStorage.setItem("evpipe.dashboard.apiKey", key), services.key);
    const page = await context.newPage();
    const loaded: Request[] = [];
    page.on("requestfinished", (request) => loaded.push(request));
    await page.goto(`${services.gateway.url}/dashboard`);
    // Locators, not a function evaluated in the page: the page's policy allows no eval.
    for (const panel of ["dau", "top-events", "retention"]) await panelIn(page, panel, "ready");
    await page.locator("#dau canvas").waitFor({ state: "attached" });
    const chartsDrawnMs = await page.evaluate(() => performance.now());
    const pageFiles = loaded.filter((request) => new URL(request.url()).pathname.startsWith("/dashboard"));
    const files = await transferSizes(pageFiles);
    const all = await transferSizes(loaded);
    console.log(
      `dashboard: page files ${files.wire} B over the wire (${files.decoded} B decoded) in ${pageFiles.length} requests; ` +
        `with the API answers ${all.wire} B (${all.decoded} B decoded); charts drawn ${Math.round(chartsDrawnMs)} ms after navigation`,
    );
    expect(pageFiles.length).toBeGreaterThanOrEqual(3);
    // Sizes, not times: the bundle is sent compressed and the whole first load stays small.
    const assets = pageFiles.filter((request) => new URL(request.url()).pathname.startsWith("/dashboard/assets/"));
    const encodings = await Promise.all(
      assets.map(async (request) => [
        new URL(request.url()).pathname,
        await request.headerValue("accept-encoding"),
        (await request.response())?.headers()["content-encoding"],
      ]),
    );
    const compressible = encodings.filter(([path]) => /\.(js|css)$/.test(String(path)));
    expect(compressible.length, JSON.stringify(encodings)).toBeGreaterThanOrEqual(2);
    expect(
      compressible.map(([path, , encoding]) => [path, encoding]),
      JSON.stringify(encodings),
    ).toEqual(compressible.map(([path]) => [path, "br"]));
    const budgetBytes = 60_000;
    expect(all.wire, `${all.wire} B over the wire`).toBeLessThan(budgetBytes);
    await context.close();
  });

  it("shows an empty range as empty, and keeps the key for the session only", async () => {
    const { page, errors } = await watchedPage(browser);
    await openWithKey(page, services.key);
    await panelIn(page, "dau", "ready");
    await page.locator("#range-from").fill("2020-01-01");
    await page.locator("#range-to").fill("2020-01-07");
    await page.getByRole("button", { name: "Apply" }).click();
    await panelIn(page, "dau", "empty");
    await panelIn(page, "top-events", "empty");
    expect(await page.locator("#dau .status").textContent()).toBe("No active users 2020-01-01 to 2020-01-07.");
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([1, 0]);
    await page.reload();
    await panelIn(page, "dau", "ready");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows what an event says as text, never as markup", async () => {
    const { page, errors } = await watchedPage(browser);
    const payload = '<img src=x onerror="window.__xss=1">';
    const hostile = {
      id: randomUUID(),
      event: `${payload} signup`,
      user_id: `${run}-${payload}`,
      metadata: { note: payload, [payload]: [payload] },
    };
    await sendAndStore([hostile]);
    await openWithKey(page, services.key);
    await panelIn(page, "top-events", "ready");
    expect((await tableRows(page, "#top-events")).map((row) => row[0])).toContain(hostile.event);

    await page.getByLabel("Event id").fill(hostile.id);
    await page.getByRole("button", { name: "Look up" }).click();
    await panelIn(page, "event-lookup", "ready");
    expect(await page.locator("#event-lookup dl.fields").textContent()).toContain(hostile.user_id);
    const metadata = JSON.parse((await page.locator("#event-lookup pre.metadata").textContent()) ?? "null");
    expect(metadata).toEqual(hostile.metadata);

    await page.getByLabel("User id").fill(hostile.user_id);
    await page.locator("#user-form button").click();
    await panelIn(page, "user-events", "ready");
    expect(await tableRows(page, "#user-events")).toEqual([
      [expect.any(String), hostile.event, `${hostile.id.slice(0, 8)}…`],
    ]);
    expect(await page.locator("#user-events .status").textContent()).toContain(hostile.user_id);

    expect(await page.evaluate("typeof window.__xss")).toBe("undefined");
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });
});
