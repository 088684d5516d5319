import { CliError } from "../cli-error.ts";
import type { DemoEvent } from "./generate.ts";

export interface SendOptions {
  baseUrl: string;
  key: string;
  batchSize: number;
  concurrency: number;
  /** A key made a moment ago reaches the gateways through a watch: its first requests may still get 401. */
  keyIsNew: boolean;
  onProgress?: (sent: number) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One batch, retried with the same ids until accepted: after 429/503 when the gateway says so (Retry-After),
 * and after 401 while a new key is still on its way to the gateway.
 */
async function sendBatch(batch: DemoEvent[], options: SendOptions): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    let res: Response;
    try {
      res = await fetch(`${options.baseUrl}/v1/events/batch`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": options.key },
        body: JSON.stringify({ events: batch }),
      });
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      throw new CliError(`cannot reach the gateway at ${options.baseUrl}: ${cause}`);
    }
    const body = await res.text();
    if (res.status === 202) return;
    const retryable = res.status === 429 || res.status === 503 || (res.status === 401 && options.keyIsNew);
    if (!retryable || Date.now() > deadline) {
      throw new CliError(`the gateway at ${options.baseUrl} answered ${res.status}: ${body.slice(0, 300)}`);
    }
    const retryAfterS = Number(res.headers.get("retry-after"));
    await sleep(Number.isFinite(retryAfterS) && retryAfterS > 0 ? retryAfterS * 1000 : 250);
  }
}

/** Sends every event through POST /v1/events/batch, a few batches at a time. */
export async function sendEvents(events: DemoEvent[], options: SendOptions): Promise<void> {
  const batches: DemoEvent[][] = [];
  for (let start = 0; start < events.length; start += options.batchSize) {
    batches.push(events.slice(start, start + options.batchSize));
  }
  let next = 0;
  let sent = 0;
  const worker = async () => {
    for (let batch = batches[next++]; batch; batch = batches[next++]) {
      await sendBatch(batch, options);
      sent += batch.length;
      options.onProgress?.(sent);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, batches.length) }, worker));
}
