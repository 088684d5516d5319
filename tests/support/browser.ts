import { type Browser, chromium, type Page } from "playwright-core";

/** Debian's Chromium, headless; no background requests of its own (updates, safe browsing) to confuse a test. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** A page that records every request it makes and every console error or uncaught exception. */
export async function watchedPage(browser: Browser): Promise<{ page: Page; requests: URL[]; errors: string[] }> {
  const page = await browser.newPage();
  const requests: URL[] = [];
  const errors: string[] = [];
  page.on("request", (request) => requests.push(new URL(request.url())));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (err) => errors.push(err.message));
  return { page, requests, errors };
}
