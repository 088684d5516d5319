import os from "node:os";
import {
  type ClusterComparison,
  type ClusterRun,
  type ReplicationSetup,
  replicationSetups,
  setupLabels,
  setupNatsGroup,
} from "./cluster.ts";
import { diskSection } from "./disk.ts";
import { median } from "./metrics-cost.ts";
import { loadGeneratorGroup } from "./phase.ts";
import { formatCount, formatMs, formatPercent, formatSeconds, formatTable } from "./report.ts";
import type { BenchSettings } from "./settings.ts";
import { storedPerSecond } from "./stored.ts";

/** A number measured in each run; `ratio` when R3 / single of the same round says something. */
interface Measure {
  name: string;
  value: (run: ClusterRun) => number;
  format: (value: number) => string;
  ratio: boolean;
}

/** A group's CPU from the start of the load until everything was stored, per 1,000 stored events. */
function cpuMsPerThousand(run: ClusterRun, group: string): number {
  const { phase } = run;
  return phase.storedEvents > 0 ? ((phase.cpuSecondsToStored[group] ?? 0) * 1e6) / phase.storedEvents : 0;
}

const formatCpuMs = (value: number) => value.toFixed(1);

/** What processes outside the groups used while loaded, in % of one core: the noise of the run. */
function othersPercent({ phase }: ClusterRun): number {
  const { cpu } = phase;
  return cpu.machineBusy * os.cpus().length - Object.values(cpu.average).reduce((sum, value) => sum + value, 0);
}

function measures(cpuGroups: readonly string[]): Measure[] {
  const cpuMeasures = cpuGroups.map(
    (group): Measure => ({
      name: `CPU ms / 1,000 stored events: ${group}`,
      value: (run) => cpuMsPerThousand(run, group),
      format: formatCpuMs,
      ratio: true,
    }),
  );
  return [
    {
      name: "accepted events/s",
      value: ({ phase }) => phase.acceptedEvents / phase.load.durationS,
      format: formatCount,
      ratio: true,
    },
    { name: "stored events/s", value: ({ phase }) => storedPerSecond(phase).rate, format: formatCount, ratio: true },
    { name: "accept latency p50", value: ({ phase }) => phase.load.latencyMs.p50, format: formatMs, ratio: true },
    { name: "accept latency p99", value: ({ phase }) => phase.load.latencyMs.p99, format: formatMs, ratio: true },
    { name: "accept latency max", value: ({ phase }) => phase.load.latencyMs.max, format: formatMs, ratio: false },
    {
      name: "consumer lag after the load stopped",
      value: ({ phase }) =>
        phase.lastStored ? Math.max(0, (phase.lastStored.getTime() - phase.load.finish.getTime()) / 1000) : 0,
      format: formatSeconds,
      ratio: false,
    },
    ...cpuMeasures,
    {
      name: "CPU ms / 1,000 stored events: pipeline (all but the bench)",
      value: (run) =>
        cpuGroups
          .filter((group) => group !== loadGeneratorGroup)
          .reduce((sum, group) => sum + cpuMsPerThousand(run, group), 0),
      format: formatCpuMs,
      ratio: true,
    },
    {
      name: `${setupNatsGroup} CPU under load, % of a core`,
      value: ({ phase }) => phase.cpu.average[setupNatsGroup] ?? 0,
      format: formatPercent,
      ratio: true,
    },
    {
      name: "machine busy under load, %",
      value: ({ phase }) => phase.cpu.machineBusy,
      format: formatPercent,
      ratio: false,
    },
    { name: "others under load, % of a core", value: othersPercent, format: formatPercent, ratio: false },
  ];
}

function runsOf(comparison: ClusterComparison, setup: ReplicationSetup): ClusterRun[] {
  return comparison.runs.filter((run) => run.setup === setup).sort((a, b) => a.round - b.round);
}

/** Each round's R3 value over the same round's single-node value. */
function roundRatios(comparison: ClusterComparison, value: (run: ClusterRun) => number): number[] {
  const single = runsOf(comparison, "single");
  return runsOf(comparison, "r3").map((run) => {
    const other = single.find((candidate) => candidate.round === run.round);
    return other && value(other) > 0 ? value(run) / value(other) : 0;
  });
}

/** One row per measure: each setup's median of the rounds, and the median of the rounds' R3 / single ratios. */
function medianRows(comparison: ClusterComparison): string[][] {
  const rows = measures(comparison.cpuGroups).map(({ name, value, format, ratio }) => {
    const ratios = ratio ? roundRatios(comparison, value) : [];
    return [
      name,
      ...replicationSetups.map((setup) => format(median(runsOf(comparison, setup).map(value)))),
      ratio ? `${median(ratios).toFixed(2)}; ${ratios.map((each) => each.toFixed(2)).join(", ")}` : "",
    ];
  });
  const exact = (setup: ReplicationSetup) => {
    const runs = runsOf(comparison, setup);
    const ok = runs.every(({ phase }) => !phase.timedOut && phase.storedEvents === phase.publishedEvents);
    const stored = runs.reduce((sum, { phase }) => sum + phase.storedEvents, 0);
    return `${ok ? "yes" : "NO"} (${formatCount(stored)})`;
  };
  const refused = (setup: ReplicationSetup) =>
    runsOf(comparison, setup)
      .map(({ phase }) => `${phase.load.non2xx} / ${phase.load.errors}`)
      .join(", ");
  return [
    ...rows,
    ["stored == published, each id once, all rounds", ...replicationSetups.map(exact), ""],
    ["non-2xx / connection errors, each round", ...replicationSetups.map(refused), ""],
  ];
}

/** One row per run, in the order they ran. */
function roundRows(comparison: ClusterComparison): string[][] {
  const picked = measures(comparison.cpuGroups).filter(({ name }) =>
    ["stored events/s", "accepted events/s", "accept latency p50", "accept latency p99"].includes(name),
  );
  return comparison.runs.map((run) => [
    `round ${run.round + 1}, ${setupLabels[run.setup]}`,
    ...picked.map(({ value, format }) => format(value(run))),
    formatCpuMs(cpuMsPerThousand(run, setupNatsGroup)),
    `${formatCount(run.phase.storedEvents)} == ${formatCount(run.phase.publishedEvents)}`,
    formatPercent(run.phase.cpu.machineBusy),
  ]);
}

export function clusterSection(settings: BenchSettings, comparison: ClusterComparison | undefined): string[] {
  if (!comparison) return [];
  const roundHeader = ["run", "accepted events/s", "stored events/s", "p50", "p99", "nats CPU ms/1,000"];
  return [
    "",
    `Replication: a private single nats-server (R1) vs a three-node JetStream cluster with NATS_REPLICAS=3 (every ` +
      "stream and bucket at three replicas), both from this machine's binary with their stores on its disk, each " +
      `with its own pipeline, database, gateway and consumer; the batch load (${settings.batchConnections} ` +
      `connections x ${comparison.durationS} s, ${settings.batchSize} events per request) after a ` +
      `${settings.warmupS} s warm-up, ${comparison.rounds} round${comparison.rounds === 1 ? "" : "s"} in the order ` +
      "single, R3, then reversed each round, a CHECKPOINT before each load. Medians of the rounds; R3 / single: " +
      "the median of each round's ratio, then each round's. CPU: from the start of each load until its last " +
      "event was stored; nats-server: only the setup's own processes (the cluster's three together); postgres: " +
      "every backend on the server. Stored == published: as many rows as events in the stream, ids being the " +
      "table's primary key, so every published (and so every accepted) event was stored exactly once",
    formatTable(
      ["measure", ...replicationSetups.map((setup) => setupLabels[setup]), "R3 / single: median; rounds"],
      medianRows(comparison),
      [1, 2],
    ),
    `EVENTS stream after the services provisioned it: ${replicationSetups
      .map((setup) => `${setupLabels[setup]} ${comparison.placement[setup]}`)
      .join("; ")}`,
    "",
    "Each round",
    formatTable([...roundHeader, "stored == published", "machine busy"], roundRows(comparison), [1, 2, 3, 4, 5]),
    ...diskSection(
      "Disk per million events of each setup's database after its rounds (WAL: its loads only, server-wide)",
      comparison.disk,
    ),
    ...comparison.warnings,
  ];
}
