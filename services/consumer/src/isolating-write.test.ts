import type { EnvelopeEvent } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { writeIsolating } from "./isolating-write.ts";

const events = ["a", "b", "c", "d", "e"].map((id) => ({ id }) as EnvelopeEvent);
const pgError = (code: string) => Object.assign(new Error(`failed with ${code}`), { code });

/** A store that refuses any write holding a poisoned id, as PostgreSQL refuses a whole statement. */
function storeRefusing(poison: Record<string, string>) {
  const stored: string[] = [];
  const store = async (batch: readonly EnvelopeEvent[]) => {
    const bad = batch.find((event) => poison[event.id]);
    if (bad) throw pgError(poison[bad.id] as string);
    stored.push(...batch.map((event) => event.id));
  };
  return { store, stored };
}

describe("writeIsolating", () => {
  it("stores everything with one write when nothing fails", async () => {
    const { store, stored } = storeRefusing({});
    expect(await writeIsolating(store, events)).toEqual({ kind: "written", failures: new Map() });
    expect(stored).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("stores the healthy events and reports each failing one with its own failure", async () => {
    const { store, stored } = storeRefusing({ b: "22023", e: "40001" });
    const outcome = await writeIsolating(store, events);
    expect(stored.sort()).toEqual(["a", "c", "d"]);
    expect(outcome.kind === "written" && Object.fromEntries(outcome.failures)).toEqual({
      b: { kind: "permanent", code: "22023", message: "failed with 22023" },
      e: { kind: "transient", code: "40001", message: "failed with 40001" },
    });
  });

  it("halts on an outage met part-way through a split, keeping what was committed before it", async () => {
    const { store, stored } = storeRefusing({ b: "22023", d: "57P01" });
    expect(await writeIsolating(store, events)).toMatchObject({ kind: "halted", failure: { kind: "outage" } });
    // a, then b alone (refused), then c; the half holding d halts the write before e is tried.
    expect(stored).toEqual(["a", "c"]);
  });
});
