import { decodePipelineReport, type Logger, pipelineReportMaxAgeMs } from "@evpipe/shared";
import type { PipelineSummary } from "@evpipe/shared/api-responses";
import type { KvEntry } from "nats";
import { forgetGone, ingestRates, keepReport, type RateWindow, type ReportSeries } from "./ingest-rates.ts";

export interface PipelineReports {
  /** Rates and instances as of `now`, from memory: no I/O. */
  ingest(now: number): PipelineSummary["ingest"];
  stop(): void;
}

/** What the watch needs of the reports bucket (a nats.js KV has it): its entries, the current ones first. */
export interface WatchableBucket {
  watch(options: {
    initializedFn: () => void;
  }): Promise<AsyncIterable<Pick<KvEntry, "key" | "operation" | "value">> & { stop(): void }>;
}

export interface ReportWatchOptions {
  /** The first wait before watching again after the watch failed or ended; it doubles up to 30 s. */
  retryMs?: number;
}

const maxRetryMs = 30_000;

/** A wait that `cancel` ends early. */
function pause(ms: number) {
  const { promise: done, resolve } = Promise.withResolvers<void>();
  const timer = setTimeout(resolve, ms);
  return {
    done,
    cancel: () => {
      clearTimeout(timer);
      resolve();
    },
  };
}

/** Each instance's recent reports, from the bucket's entries, each stamped with when it arrived here. */
function reportsInMemory(log: Logger, window: RateWindow) {
  let series = new Map<string, ReportSeries>();
  const unreadable = new Set<string>();
  return {
    apply(entry: Pick<KvEntry, "key" | "operation" | "value">) {
      const now = Date.now();
      if (entry.operation !== "PUT") {
        series.delete(entry.key);
        return;
      }
      try {
        const report = decodePipelineReport(entry.value);
        series.set(entry.key, keepReport(series.get(entry.key), report, now, window.windowMs));
      } catch (err) {
        if (!unreadable.has(entry.key)) log.warn({ err, key: entry.key }, "ignoring an unreadable pipeline report");
        unreadable.add(entry.key);
      }
      // The bucket drops a gone instance's last report without a delete marker: forget it here too.
      series = forgetGone(series, now, pipelineReportMaxAgeMs);
    },
    ingest: (now: number) => ingestRates(series.values(), now, window),
  };
}

/**
 * Watches the reports bucket and keeps each instance's recent reports in memory, so answering costs no request.
 * Resolves once the reports already in the bucket are loaded (rejects when the first watch cannot start). Each
 * entry is stamped with when it arrived here: an instance is judged gone by that, not by its own clock. A report
 * already in the bucket counts as arriving at load, so an instance stopped just before shows until it misses
 * three reports' worth of time. An entry that is not a report (another version's) is skipped, said once per key.
 *
 * A watch that fails or ends (its consumer lost with the connection, say) is opened again, after a wait that
 * doubles while it keeps failing; that is said once per run of failures, so the rates never silently freeze.
 */
export async function watchPipelineReports(
  kv: WatchableBucket,
  log: Logger,
  window: RateWindow,
  options: ReportWatchOptions = {},
): Promise<PipelineReports> {
  const retryMs = options.retryMs ?? 1000;
  const reports = reportsInMemory(log, window);
  let stopped = false;
  let current: { stop(): void } | undefined;
  let waiting: ReturnType<typeof pause> | undefined;

  /** One watch, from opening to its end: resolves when it ends quietly, rejects when it fails. */
  const watchOnce = async (onLoaded: () => void) => {
    const watch = await kv.watch({ initializedFn: onLoaded });
    current = watch;
    if (stopped) watch.stop();
    for await (const entry of watch) reports.apply(entry);
  };

  const { promise: firstLoaded, resolve: loadedFirst, reject: failedFirst } = Promise.withResolvers<void>();
  let loadedOnce = false;
  void (async () => {
    let failing = false;
    let waitMs = retryMs;
    while (!stopped) {
      let failure: unknown;
      try {
        await watchOnce(() => {
          loadedOnce = true;
          loadedFirst();
          if (failing) log.info("watching the pipeline reports again");
          failing = false;
          waitMs = retryMs;
        });
      } catch (err) {
        failure = err;
      }
      if (stopped) return;
      if (!loadedOnce) {
        failedFirst(failure ?? new Error("the pipeline reports watch ended before loading"));
        return;
      }
      if (!failing) log.warn({ err: failure }, "the pipeline reports watch stopped; watching again");
      failing = true;
      waiting = pause(waitMs);
      await waiting.done;
      waitMs = Math.min(2 * waitMs, maxRetryMs);
    }
  })();
  await firstLoaded;
  return {
    ingest: reports.ingest,
    stop: () => {
      stopped = true;
      current?.stop();
      waiting?.cancel();
    },
  };
}
