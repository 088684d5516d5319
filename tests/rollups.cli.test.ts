import { describe, expect, it } from "vitest";
import { runOps } from "./support/processes.ts";

describe("ops rollups arguments", () => {
  it.each([
    [["rollups", "rebuild", "--from", "2026-11-02"], "give both --from and --to"],
    [["rollups", "verify", "--from", "2026-11-03", "--to", "2026-11-01"], "--to must not be before --from"],
    [["rollups", "verify", "--from", "2026-02-30", "--to", "2026-03-01"], '--from "2026-02-30" is not a date'],
  ])("refuses %j with exit 2 and says why, before connecting to anything", async (args, message) => {
    // An unreachable database: the arguments are refused before any connection is tried.
    const result = await runOps(args, { DATABASE_URL: "postgres://postgres@127.0.0.1:1/none", LOG_LEVEL: "warn" });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
