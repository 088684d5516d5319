import os from "node:os";
import { type DestinationsComparison, type DestinationsRun, forwarderGroup, sinkGroup } from "./destinations.ts";
import { median } from "./metrics-cost.ts";
import { loadGeneratorGroup, natsGroup } from "./phase.ts";
import { formatCount, formatMiB, formatPercent, formatSeconds } from "./report.ts";
import { storedPerSecond } from "./stored.ts";

/** One destination's distinct events over the time from its first request to its last. */
function deliveredPerSecond({ distinct, firstAt, lastAt }: { distinct: number; firstAt: number; lastAt: number }) {
  return lastAt > firstAt ? (distinct * 1000) / (lastAt - firstAt) : 0;
}

/** All destinations of a run together: every event they received over the span of all their requests. */
function allDeliveredPerSecond(run: DestinationsRun): number {
  const received = run.received.filter((destination) => destination.requests > 0);
  if (received.length === 0) return 0;
  return deliveredPerSecond({
    distinct: received.reduce((sum, destination) => sum + destination.distinct, 0),
    firstAt: Math.min(...received.map((destination) => destination.firstAt)),
    lastAt: Math.max(...received.map((destination) => destination.lastAt)),
  });
}

/** Seconds from the end of the load until the last destination's last request. */
function deliveryTailS(run: DestinationsRun): number {
  const last = Math.max(...run.received.map((destination) => destination.lastAt));
  return Math.max(0, (last - run.phase.load.finish.getTime()) / 1000);
}

/** Distinct events: a second delivery of one is work done again, not more delivered. */
function deliveredEvents(runs: readonly DestinationsRun[]): number {
  return runs.reduce((sum, run) => sum + run.received.reduce((total, { distinct }) => total + distinct, 0), 0);
}

/** From the load's start until the last delivery for the NATS server, forwarder and sink; else until stored. */
function cpuSecondsOf(run: DestinationsRun, group: string): number {
  return (group in run.cpuSeconds ? run.cpuSeconds[group] : run.phase.cpuSecondsToStored[group]) ?? 0;
}

/** The groups' CPU milliseconds per 1,000 of `events`, over all the runs together. */
function cpuMsPerThousand(runs: readonly DestinationsRun[], groups: readonly string[], events: number): string {
  const seconds = runs.reduce(
    (sum, run) => sum + groups.reduce((total, group) => total + cpuSecondsOf(run, group), 0),
    0,
  );
  return events > 0 ? ((seconds * 1e6) / events).toFixed(1) : "";
}

/** What processes outside the groups used while loaded, in % of one core: the noise of the run. */
function othersPercent({ phase }: DestinationsRun): number {
  const { cpu } = phase;
  return cpu.machineBusy * os.cpus().length - Object.values(cpu.average).reduce((sum, value) => sum + value, 0);
}

function everyEvent(runs: readonly DestinationsRun[]): string {
  const expected = runs.reduce((sum, run) => sum + run.expectedEvents * run.received.length, 0);
  const distinct = deliveredEvents(runs);
  const exact = runs.every((run) => run.received.every((destination) => destination.distinct === run.expectedEvents));
  return exact ? `yes (${formatCount(distinct)})` : `NO (${formatCount(distinct)} of ${formatCount(expected)})`;
}

/** Deliveries beyond the first of an event: at least once allows them, but each is a request done again. */
function redelivered(runs: readonly DestinationsRun[]): string {
  const extra = runs.reduce(
    (sum, run) => sum + run.received.reduce((total, { events, distinct }) => total + events - distinct, 0),
    0,
  );
  return formatCount(extra);
}

const storedRate = (run: DestinationsRun) => storedPerSecond(run.phase).rate;

/** The runs of each number of destinations, in round order. */
export function runsByCount(comparison: DestinationsComparison): Array<[number, DestinationsRun[]]> {
  return comparison.order.map((count) => [
    count,
    comparison.runs.filter((run) => run.destinations === count).sort((a, b) => a.round - b.round),
  ]);
}

/** Each round's stored events/s over the same round's with no destination. */
function storedRatios(comparison: DestinationsComparison, runs: readonly DestinationsRun[]): number[] {
  return runs.map((run) => {
    const none = comparison.runs.find((other) => other.destinations === 0 && other.round === run.round);
    return none && storedRate(none) > 0 ? storedRate(run) / storedRate(none) : 0;
  });
}

type Row = [string, (runs: DestinationsRun[], count: number) => string];

/** The writer's side: its throughput with the destinations running, and the completeness of what it stored. */
function writerRows(comparison: DestinationsComparison): Row[] {
  const middle = (value: (run: DestinationsRun) => number) => (runs: DestinationsRun[]) =>
    formatCount(median(runs.map(value)));
  return [
    ["accepted events/s", middle((run) => run.phase.acceptedEvents / run.phase.load.durationS)],
    ["stored events/s", middle(storedRate)],
    [
      "stored events/s / with none: median; rounds",
      (runs) => {
        const ratios = storedRatios(comparison, runs);
        return `${median(ratios).toFixed(3)}; ${ratios.map((ratio) => ratio.toFixed(2)).join(", ")}`;
      },
    ],
    [
      "stored == published, all rounds",
      (runs) =>
        runs.every((run) => !run.phase.timedOut && run.phase.storedEvents === run.phase.publishedEvents) ? "yes" : "NO",
    ],
  ];
}

/** The destinations' side: what each received per second, how long after the load, and whether all of it. */
function deliveryRows(): Row[] {
  const perDestination = (pick: (rates: number[]) => number) => (runs: DestinationsRun[], count: number) =>
    count === 0 ? "" : formatCount(median(runs.map((run) => pick(run.received.map(deliveredPerSecond)))));
  return [
    ["delivered events/s per destination (median)", perDestination(median)],
    ["delivered events/s, slowest destination", perDestination((rates) => Math.min(...rates))],
    [
      "delivered events/s, all destinations",
      (runs, count) => (count === 0 ? "" : formatCount(median(runs.map(allDeliveredPerSecond)))),
    ],
    [
      "last delivery after the load stopped",
      (runs, count) => (count === 0 ? "" : formatSeconds(median(runs.map(deliveryTailS)))),
    ],
    ["every destination got every event, all rounds", (runs, count) => (count === 0 ? "" : everyEvent(runs))],
    ["events delivered more than once, all rounds", (runs, count) => (count === 0 ? "" : redelivered(runs))],
  ];
}

/** CPU per event, memory, and the machine's load. */
function costRows(groups: readonly string[]): Row[] {
  const stored = (runs: DestinationsRun[]) => runs.reduce((sum, run) => sum + run.phase.storedEvents, 0);
  const pipelineGroups = groups.filter((group) => group !== loadGeneratorGroup && group !== sinkGroup);
  const untilWhen = (group: string) => (group === natsGroup ? "until the last delivery" : "until stored");
  return [
    [
      "forwarder CPU ms / 1,000 delivered events",
      (runs, count) => (count === 0 ? "" : cpuMsPerThousand(runs, [forwarderGroup], deliveredEvents(runs))),
    ],
    [
      "forwarder CPU under load, % of a core",
      (runs, count) =>
        count === 0 ? "" : formatPercent(median(runs.map((run) => run.phase.cpu.average[forwarderGroup] ?? 0))),
    ],
    [
      "forwarder peak RSS (highest round)",
      (runs, count) => (count === 0 ? "" : formatMiB(Math.max(...runs.map((run) => run.forwarderPeakRss ?? 0)))),
    ],
    [
      "sink CPU ms / 1,000 delivered events",
      (runs, count) => (count === 0 ? "" : cpuMsPerThousand(runs, [sinkGroup], deliveredEvents(runs))),
    ],
    ...groups
      .filter((group) => group !== forwarderGroup && group !== sinkGroup)
      .map(
        (group): Row => [
          `CPU ms / 1,000 stored events: ${group}, ${untilWhen(group)}`,
          (runs) => cpuMsPerThousand(runs, [group], stored(runs)),
        ],
      ),
    [
      "CPU ms / 1,000 stored events: pipeline and forwarder",
      (runs) => cpuMsPerThousand(runs, pipelineGroups, stored(runs)),
    ],
    [
      "machine busy under load (others, % of a core)",
      (runs) =>
        `${formatPercent(median(runs.map((run) => run.phase.cpu.machineBusy)))} ` +
        `(${formatPercent(median(runs.map(othersPercent)))})`,
    ],
  ];
}

/** Column headers: one per number of destinations. */
export function destinationsColumns(comparison: DestinationsComparison): string[] {
  return comparison.order.map((count) => (count === 0 ? "none" : `${count} destination${count === 1 ? "" : "s"}`));
}

/**
 * One row per measure, one column per number of destinations: medians of the rounds, except CPU per event
 * (all rounds together, from the start of each load until its last event was delivered) and peak RSS.
 */
export function destinationsRows(comparison: DestinationsComparison): string[][] {
  const columns = runsByCount(comparison);
  const rows = [...writerRows(comparison), ...deliveryRows(), ...costRows(comparison.cpuGroups)];
  return rows.map(([name, cell]) => [name, ...columns.map(([count, runs]) => cell(runs, count))]);
}

/** The forwarder's warnings or errors in any run: a retry is not a lost event, but it is worth reading. */
export function destinationsWarnings(comparison: DestinationsComparison): string[] {
  return comparison.runs
    .filter((run) => run.forwarderWarnings !== undefined)
    .map((run) => `forwarder with ${run.destinations} destinations, round ${run.round + 1}: ${run.forwarderWarnings}`);
}
