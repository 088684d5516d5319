import {
  destinationNames,
  type Logger,
  type NatsNames,
  openDestinationStatusBucket,
  openDestinationsBucket,
  openPipelineReportsBucket,
  type Replication,
} from "@evpipe/shared";
import type { JetStreamClient, JetStreamManager, KV } from "nats";
import { rateWindowOf } from "./ingest-rates.ts";
import { createJetStreamSampler } from "./jetstream-sample.ts";
import { watchPipelineReports } from "./report-watch.ts";
import { createPipelineSummaries, type PipelineSummarySource } from "./summary-source.ts";

export interface PipelineSummariesOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: NatsNames;
  namespace: string | undefined;
  log: Logger;
  /** The buckets are opened (made when missing) with the service's replicas; none in tests. */
  replication?: Replication;
  refreshMs: number;
  reportIntervalMs: number;
  tallyMax: number;
}

/**
 * GET /v1/pipeline's source over one NATS connection: the reports bucket watched from now on, JetStream sampled
 * when asked. Also returns the reports bucket, which the gateway's own reporter writes to.
 */
export async function openPipelineSummaries(
  options: PipelineSummariesOptions,
): Promise<{ summaries: PipelineSummarySource; reportsBucket: KV; stop(): void }> {
  const { js, jsm, names, log, replication } = options;
  const destinations = destinationNames(options.namespace);
  const [reportsBucket, destinationsBucket, statusBucket] = await Promise.all([
    openPipelineReportsBucket(js, names, replication),
    openDestinationsBucket(js, destinations, replication),
    openDestinationStatusBucket(js, destinations, replication),
  ]);
  const reports = await watchPipelineReports(reportsBucket, log, rateWindowOf(options.reportIntervalMs));
  const sample = createJetStreamSampler({
    js,
    jsm,
    names,
    destinations: { names: destinations, destinations: destinationsBucket, status: statusBucket },
    tallyMax: options.tallyMax,
  });
  const summaries = createPipelineSummaries({ sample, ingest: reports.ingest, refreshMs: options.refreshMs, log });
  return { summaries, reportsBucket, stop: reports.stop };
}
