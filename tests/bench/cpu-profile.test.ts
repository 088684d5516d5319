import { describe, expect, it } from "vitest";
import { type CpuProfile, renderTopFrames, summarizeProfile } from "./cpu-profile.ts";

const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber });

// (root) -> main -> parse -> parse (recursion), main -> write; (idle) and (garbage collector) under the root.
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 6, 7] },
    { id: 2, callFrame: frame("main", "file:///repo/services/x/main.ts", 9), children: [3, 5] },
    {
      id: 3,
      callFrame: frame("parse", "file:///repo/node_modules/.pnpm/p@1/node_modules/p/index.js", 41),
      children: [4],
    },
    { id: 4, callFrame: frame("parse", "file:///repo/node_modules/.pnpm/p@1/node_modules/p/index.js", 41) },
    { id: 5, callFrame: frame("write", "file:///repo/services/x/write.ts", 0) },
    { id: 6, callFrame: frame("(idle)") },
    { id: 7, callFrame: frame("(garbage collector)") },
  ],
  samples: [2, 3, 4, 4, 5, 6, 6, 7],
  timeDeltas: [1000, 2000, 3000, 3000, 4000, 50_000, 50_000, 500],
};

describe("the CPU profile reader", () => {
  const summary = summarizeProfile(profile, "/repo");
  const byName = (prefix: string) => summary.frames.find((row) => row.frame.startsWith(prefix));

  it("sums self time per function and leaves idle time out of the busy time", () => {
    expect(summary.busyMs).toBe(13.5);
    expect(summary.idleMs).toBe(100);
    expect(byName("parse")).toEqual({ frame: "parse p/index.js:42", selfMs: 8, totalMs: 8 });
    expect(byName("(garbage collector)")).toEqual({ frame: "(garbage collector)", selfMs: 0.5, totalMs: 0.5 });
  });

  it("counts a function once per sample in its total, however deep it recurses", () => {
    expect(byName("main")).toEqual({ frame: "main services/x/main.ts:10", selfMs: 1, totalMs: 13 });
    expect(byName("write")).toEqual({ frame: "write services/x/write.ts:1", selfMs: 4, totalMs: 4 });
  });

  it("lists the top functions by self and by total time with their share of the busy time", () => {
    const text = renderTopFrames(summary, 2);
    expect(text).toContain("busy 14 ms sampled (idle 100 ms left out)");
    expect(text.split("\n").slice(2, 4)).toEqual([
      "       8 ms  59.3%  parse p/index.js:42",
      "       4 ms  29.6%  write services/x/write.ts:1",
    ]);
    expect(text.split("\n")[5]).toBe("      13 ms  96.3%  main services/x/main.ts:10");
  });
});
