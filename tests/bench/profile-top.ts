import { readFileSync } from "node:fs";
import { type CpuProfile, renderTopFrames, summarizeProfile } from "./cpu-profile.ts";

// `node tests/bench/profile-top.ts <file.cpuprofile>... [--top N]`: the functions that took the time in
// profiles written by `BENCH_CPU_PROF=<dir> pnpm bench` (or any `node --cpu-prof`).
const args = process.argv.slice(2);
const topIndex = args.indexOf("--top");
const count = topIndex >= 0 ? Number(args[topIndex + 1]) : 15;
const files = args.filter((_, index) => topIndex < 0 || (index !== topIndex && index !== topIndex + 1));
if (files.length === 0 || !Number.isInteger(count) || count < 1) {
  process.stderr.write("usage: node tests/bench/profile-top.ts <file.cpuprofile>... [--top N]\n");
  process.exit(2);
}
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  process.stdout.write(`${file}\n${renderTopFrames(summarizeProfile(profile), count)}\n\n`);
}
