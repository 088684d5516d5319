import { readdirSync } from "node:fs";
import path from "node:path";

/** The parts of a V8 `.cpuprofile` (what `node --cpu-prof` writes) this reader uses. */
export interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples: number[];
  /** Microseconds since the previous sample, one per sample. */
  timeDeltas: number[];
}

export interface FrameTime {
  /** `function url:line`, one row per function however many call paths reach it. */
  frame: string;
  selfMs: number;
  /** Time with the function anywhere on the stack, counted once per sample even when it recurses. */
  totalMs: number;
}

export interface ProfileSummary {
  /** Sampled time, idle excluded. */
  busyMs: number;
  idleMs: number;
  frames: FrameTime[];
}

function frameName(callFrame: CpuProfile["nodes"][number]["callFrame"], root: string): string {
  const name = callFrame.functionName || "(anonymous)";
  if (!callFrame.url) return name;
  // file:///work/main/services/x.ts -> services/x.ts; .../node_modules/.pnpm/a@1/node_modules/a/b.js -> a/b.js
  let url = callFrame.url.replace(/^file:\/\//, "");
  if (url.includes("/node_modules/")) url = url.replace(/^.*\/node_modules\//, "");
  else if (url.startsWith(`${root}/`)) url = url.slice(root.length + 1);
  return `${name} ${url}:${callFrame.lineNumber + 1}`;
}

/** Self and total time per function; "(idle)" is left out of the busy time and the rows. */
export function summarizeProfile(profile: CpuProfile, root = process.cwd()): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const frameOf = new Map(profile.nodes.map((node) => [node.id, frameName(node.callFrame, root)]));
  // The distinct functions on each node's stack, root excluded, made once per node.
  const stacks = new Map<number, string[]>();
  const stackOf = (id: number): string[] => {
    const known = stacks.get(id);
    if (known) return known;
    const parent = parentOf.get(id);
    const above = parent === undefined ? [] : stackOf(parent);
    const frame = frameOf.get(id) as string;
    const stack = parent === undefined || above.includes(frame) ? above : [...above, frame];
    stacks.set(id, stack);
    return stack;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  profile.samples.forEach((id, index) => {
    const deltaUs = Math.max(0, profile.timeDeltas[index] ?? 0);
    const frame = frameOf.get(id) as string;
    if (byId.get(id)?.callFrame.functionName === "(idle)") {
      idleUs += deltaUs;
      return;
    }
    busyUs += deltaUs;
    self.set(frame, (self.get(frame) ?? 0) + deltaUs);
    for (const onStack of stackOf(id)) total.set(onStack, (total.get(onStack) ?? 0) + deltaUs);
  });
  const frames = [...total.entries()].map(([frame, totalUs]) => ({
    frame,
    selfMs: (self.get(frame) ?? 0) / 1000,
    totalMs: totalUs / 1000,
  }));
  return { busyMs: busyUs / 1000, idleMs: idleUs / 1000, frames };
}

/** The top `count` rows by self time, then by total time, as text. */
export function renderTopFrames(summary: ProfileSummary, count: number): string {
  const share = (ms: number) => `${((ms / Math.max(summary.busyMs, 1e-9)) * 100).toFixed(1)}%`.padStart(6);
  const row = (ms: number, frame: string) => `${ms.toFixed(0).padStart(8)} ms ${share(ms)}  ${frame}`;
  const top = (key: "selfMs" | "totalMs") => [...summary.frames].sort((a, b) => b[key] - a[key]).slice(0, count);
  return [
    `busy ${summary.busyMs.toFixed(0)} ms sampled (idle ${summary.idleMs.toFixed(0)} ms left out)`,
    `top ${count} by self time:`,
    ...top("selfMs").map((frame) => row(frame.selfMs, frame.frame)),
    `top ${count} by total time (the function or what it calls):`,
    ...top("totalMs").map((frame) => row(frame.totalMs, frame.frame)),
  ].join("\n");
}

/** NODE_OPTIONS that make a service write a profile into `directory` when it exits. */
export function cpuProfileEnv(directory: string | undefined): Record<string, string> {
  if (!directory) return {};
  const inherited = process.env.NODE_OPTIONS ? `${process.env.NODE_OPTIONS} ` : "";
  return { NODE_OPTIONS: `${inherited}--cpu-prof --cpu-prof-dir=${path.resolve(directory)}` };
}

/** The profiles a process wrote: node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile. */
export function profilesOf(directory: string, pid: number): string[] {
  return readdirSync(directory)
    .filter((file) => file.endsWith(".cpuprofile") && file.split(".")[3] === String(pid))
    .map((file) => path.join(path.resolve(directory), file));
}
