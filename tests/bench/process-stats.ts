import { readdirSync, readFileSync } from "node:fs";
import { socketInodesOf, tcpSockets } from "../support/tcp-sockets.ts";

// USER_HZ: the unit of utime/stime in /proc/<pid>/stat, 100 on every Linux this runs on.
const ticksPerSecond = 100;

/** Peak resident set size (VmHWM) of a live process, in bytes. */
export function peakRssBytes(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** User + system CPU time of one process in ticks; 0 once it has gone. */
function processTicks(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return 0;
  }
  // The command name may hold spaces and parentheses: fields are counted from the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Every process whose command name is `name` (e.g. all PostgreSQL backends). */
export function pidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === name) pids.push(Number(entry));
    } catch {
      // The process exited between the listing and the read.
    }
  }
  return pids;
}

/**
 * The one of `candidates` that listens on `port`: other sessions run nats-servers of their own on this machine,
 * so a name alone does not tell which processes a measurement is about.
 */
export function pidListeningOn(port: number, candidates: readonly number[]): number {
  const listening = tcpSockets().filter((socket) => socket.state === "0A" && socket.localPort === port);
  for (const pid of candidates) {
    const inodes = socketInodesOf(pid);
    if (listening.some((socket) => inodes.has(socket.inode))) return pid;
  }
  throw new Error(`no process among ${candidates.join(", ")} listens on port ${port}`);
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

export interface CpuUsage {
  /** Average over the interval, in % of one core. */
  average: Record<string, number>;
  /** Highest one-second value, in % of one core. */
  peak: Record<string, number>;
  /** Average busy share of the whole machine, in % of all cores. */
  machineBusy: number;
}

/** Each group's processes with their CPU ticks so far. */
type GroupTicks = Record<string, Map<number, number>>;

function readGroupTicks(groups: Record<string, () => number[]>): GroupTicks {
  return Object.fromEntries(
    Object.entries(groups).map(([group, pids]) => [group, new Map(pids().map((pid) => [pid, processTicks(pid)]))]),
  );
}

/**
 * Ticks a group used between two reads, process by process: one that started in between counts from its start,
 * one that exited in between is left out. Summing the group at each read instead would subtract a whole
 * lifetime's CPU when an idle pool closes a busy PostgreSQL backend.
 */
function ticksBetween(from: GroupTicks, to: GroupTicks, group: string): number {
  let used = 0;
  for (const [pid, now] of to[group] ?? []) used += now - (from[group]?.get(pid) ?? 0);
  return used;
}

/**
 * Samples the CPU time of groups of processes once a second. Groups are re-resolved at each sample, so
 * PostgreSQL backends that connect later are counted from their first sample on.
 */
export function startCpuSampler(groups: Record<string, () => number[]>, intervalMs = 1000) {
  const read = () => ({ at: performance.now(), ticks: readGroupTicks(groups), machine: machineTicks() });
  const first = read();
  let previous = first;
  const used: Record<string, number> = {};
  const peak: Record<string, number> = {};
  // The last, partial interval counts toward the average but not the peak: a fraction of a second is too noisy.
  const sample = (countsForPeak: boolean) => {
    const current = read();
    const seconds = (current.at - previous.at) / 1000;
    for (const group of Object.keys(groups)) {
      const ticks = ticksBetween(previous.ticks, current.ticks, group);
      used[group] = (used[group] ?? 0) + ticks;
      if (countsForPeak) peak[group] = Math.max(peak[group] ?? 0, (ticks / ticksPerSecond / seconds) * 100);
    }
    previous = current;
    return current;
  };
  const timer = setInterval(() => sample(true), intervalMs);

  return {
    stop(): CpuUsage {
      clearInterval(timer);
      const last = sample(false);
      const seconds = (last.at - first.at) / 1000;
      const average: Record<string, number> = {};
      for (const group of Object.keys(groups)) average[group] = ((used[group] ?? 0) / ticksPerSecond / seconds) * 100;
      const machineBusy =
        ((last.machine.busy - first.machine.busy) / Math.max(1, last.machine.total - first.machine.total)) * 100;
      return { average, peak, machineBusy };
    },
  };
}

/**
 * CPU seconds each group uses from now until `stop()`, read per process at both ends: a process that starts
 * in between counts from its start. For costs per event over a whole phase, catch-up included.
 */
export function startCpuTotals(groups: Record<string, () => number[]>) {
  const first = readGroupTicks(groups);
  return {
    stop(): Record<string, number> {
      const last = readGroupTicks(groups);
      return Object.fromEntries(
        Object.keys(groups).map((group) => [group, ticksBetween(first, last, group) / ticksPerSecond]),
      );
    },
  };
}
