import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page, Request } from "playwright-core";

/** Screenshots go outside the repo, overwritten by each run: $EVPIPE_ARTIFACTS or <tmp>/evpipe-artifacts. */
export function artifactsDir(): string {
  const dir = process.env.EVPIPE_ARTIFACTS ?? join(tmpdir(), "evpipe-artifacts");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** One event as the test sends it. */
export interface SentEvent {
  id: string;
  event: string;
  user_id: string;
  client_ts: string;
}

export const addDays = (day: string, count: number): string =>
  new Date(Date.parse(day) + count * 86_400_000).toISOString().slice(0, 10);

/** Distinct users per UTC day of the range, every day listed, as the page's numbers table shows them. */
export function expectedDau(sent: readonly SentEvent[], from: string, to: string): string[][] {
  const rows: string[][] = [];
  for (let day = from; day <= to; day = addDays(day, 1)) {
    const users = new Set(sent.filter((event) => event.client_ts.startsWith(day)).map((event) => event.user_id));
    rows.push([day, String(users.size)]);
  }
  return rows;
}

/** Event names by count (then name), with their distinct users: the top-events table's rows. */
export function expectedTopEvents(sent: readonly SentEvent[]): string[][] {
  const names = [...new Set(sent.map((event) => event.event))];
  return names
    .map((name) => {
      const matching = sent.filter((event) => event.event === name);
      return { name, count: matching.length, users: new Set(matching.map((event) => event.user_id)).size };
    })
    .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name))
    .map(({ name, count, users }) => [name, String(count), String(users)]);
}

/** The text of each cell of each body row of the tables under `selector`. */
export function tableRows(page: Page, selector: string): Promise<string[][]> {
  return page
    .locator(`${selector} tbody tr`)
    .evaluateAll((rows) => rows.map((row) => [...row.children].map((cell) => cell.textContent?.trim() ?? "")));
}

/**
 * Pixels of the canvas that something was drawn on (neither transparent nor white). An expression, not a
 * function: the tests are type-checked for Node, without the DOM's types.
 */
export async function inkedPixels(page: Page, selector: string): Promise<number> {
  const inked = await page.evaluate(`(() => {
    const canvas = document.querySelector(${JSON.stringify(selector)});
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let inked = 0;
    for (let i = 0; i < data.length; i += 4) {
      const white = data[i] > 245 && data[i + 1] > 245 && data[i + 2] > 245;
      if (data[i + 3] > 0 && !white) inked++;
    }
    return inked;
  })()`);
  return Number(inked);
}

/** Opens the dashboard of the gateway at `baseUrl` and enters `key`, as a person would. */
export async function openDashboard(page: Page, baseUrl: string, key: string): Promise<void> {
  await page.goto(`${baseUrl}/dashboard`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Show", exact: true }).first().click();
}

/** The page's polls of the pipeline's health among the URLs it requested. */
export const pipelineRequests = (requests: readonly URL[]): URL[] =>
  requests.filter((url) => url.pathname === "/v1/pipeline");

export const panelIn = (page: Page, id: string, state: string, timeout = 15_000) =>
  page.locator(`#${id}[data-state="${state}"]`).waitFor({ timeout });

/** Moves the mouse over bar `index` of `count` in the DAU chart and reads uPlot's legend: [day, users]. */
export async function hoverDauBar(page: Page, index: number, count: number): Promise<string[]> {
  const box = await page.locator("#dau .u-over").boundingBox();
  if (!box) throw new Error("the DAU chart has no plotting area");
  await page.mouse.move(box.x + (box.width * (index + 0.5)) / count, box.y + box.height * 0.95);
  return page.locator("#dau .u-legend .u-value").allTextContents();
}

/** Bytes received for the requests (headers plus the body as sent, compressed) and the bodies' decoded bytes. */
export async function transferSizes(requests: readonly Request[]): Promise<{ wire: number; decoded: number }> {
  let wire = 0;
  let decoded = 0;
  for (const request of requests) {
    const response = await request.response();
    if (!response) continue;
    const sizes = await request.sizes();
    wire += sizes.responseHeadersSize + sizes.responseBodySize;
    decoded += (await response.body().catch(() => Buffer.alloc(0))).byteLength;
  }
  return { wire, decoded };
}
