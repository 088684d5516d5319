import { parseArgs } from "node:util";
import {
  type DestinationNames,
  destinationStreamConfigs,
  type Logger,
  type NatsNames,
  openDestinationStatusBucket,
  openDestinationsBucket,
  openFailureHistoryBucket,
  openKeysBucket,
  openKeyUsageBucket,
  openPipelineReportsBucket,
  ProvisionError,
  provisionStreamConfigs,
  replicationOf,
  type StreamSettings,
  streamConfigs,
} from "@evpipe/shared";
import type { NatsConnection } from "nats";
import { CliError, usageExit } from "./cli-error.ts";
import { formatTable } from "./table.ts";

export const provisionUsage = "pnpm ops provision [--json]";

/** A change JetStream refused (more replicas than servers) is the operator's to mend: one line, exit 1. */
function asCliError(err: unknown): never {
  if (err instanceof ProvisionError) throw new CliError(err.message);
  throw err;
}

export interface ProvisionContext {
  connection: () => Promise<NatsConnection>;
  names: NatsNames;
  destinations: DestinationNames;
  settings: StreamSettings;
  log: Logger;
}

/**
 * Every stream and bucket of the project, created or brought to the settings in the environment (NATS_REPLICAS
 * included): what the services do at start, for a secured server where only the ops user may change the keys
 * and destinations buckets (the gateway and the forwarder may only read them).
 */
export async function provisionCommand(
  args: string[],
  context: ProvisionContext,
  print: (line: string) => void,
): Promise<void> {
  let values: { json?: boolean };
  try {
    ({ values } = parseArgs({ args, options: { json: { type: "boolean" } }, strict: true }));
  } catch (err) {
    throw new CliError(`${(err as Error).message}\nusage: ${provisionUsage}`, usageExit);
  }
  const { names, destinations, settings, log } = context;
  const nc = await context.connection();
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const configs = [...streamConfigs(names, settings), ...destinationStreamConfigs(destinations, settings)];
  const replication = replicationOf(settings, log);
  await provisionStreamConfigs(jsm, configs, replication).catch(asCliError);
  // Opened as the services open them, so a bucket ops creates has their settings.
  const keptMs = settings.eventsMaxAgeMs;
  const buckets: Array<[string, () => Promise<unknown>]> = [
    [names.keysBucket, () => openKeysBucket(js, names.keysBucket, replication)],
    [names.keyUsageBucket, () => openKeyUsageBucket(js, names.keyUsageBucket, replication)],
    [names.writerHistoryBucket, () => openFailureHistoryBucket(js, names.writerHistoryBucket, keptMs, replication)],
    [names.pipelineReportsBucket, () => openPipelineReportsBucket(js, names, replication)],
    [destinations.bucket, () => openDestinationsBucket(js, destinations, replication)],
    [destinations.statusBucket, () => openDestinationStatusBucket(js, destinations, replication)],
    [destinations.attemptsBucket, () => openFailureHistoryBucket(js, destinations.attemptsBucket, keptMs, replication)],
  ];
  for (const [, open] of buckets) await open().catch(asCliError);

  const rows: Array<{ stream: string; replicas: number; leader: string }> = [];
  for (const stream of [...configs.map((config) => config.name), ...buckets.map(([bucket]) => `KV_${bucket}`)]) {
    const info = await jsm.streams.info(stream);
    rows.push({ stream, replicas: info.config.num_replicas, leader: info.cluster?.leader ?? "" });
  }
  if (values.json) {
    print(JSON.stringify(rows));
    return;
  }
  const table = formatTable(
    ["stream", "replicas", "leader"],
    rows.map((row) => [row.stream, String(row.replicas), row.leader]),
  );
  for (const line of table) print(line);
}
