import type { TestPipeline } from "../support/pipeline.ts";
import { type BodySource, ownBatchBodies, ownSegmentSizedBodies, segmentBatchBodies } from "./fresh-bodies.ts";
import { ingestPhase, type PhaseOptions, type PhaseResult } from "./phase.ts";
import type { BenchSettings } from "./settings.ts";

/** The issue's limit: the Segment route may cost the gateway at most 15% more CPU per event than ours. */
export const maxSegmentGatewayCpuRatio = 1.15;

/** The routes of the comparison, each loaded once per round. */
export const comparedRoutes = ["own", "ownSized", "segment", "segmentGzip"] as const;
export type ComparedRoute = (typeof comparedRoutes)[number];

export interface RouteRun {
  label: string;
  /** One per round, in round order; the main phase's reference has just the one. */
  phases: PhaseResult[];
  /** Average bytes of a request body as sent. */
  bodyBytes: number;
}

export interface SegmentComparison {
  rounds: number;
  durationS: number;
  /** The main batch phase: our route with BENCH_WORKLOAD's bodies. */
  reference: RouteRun;
  /** Ours with fresh ids; `ownSized` with the Segment messages' bytes per event, so what is left of the
   * difference to it is the route's own work. */
  routes: Record<ComparedRoute, RouteRun>;
}

/** How a Segment SDK authenticates and what it says it is; the gzip variant also compresses the body. */
function segmentHeaders(key: string, gzip: boolean): Record<string, string> {
  return {
    "content-type": "application/json",
    "user-agent": "analytics-node-next/latest",
    authorization: `Basic ${Buffer.from(`${key}:`).toString("base64")}`,
    ...(gzip ? { "content-encoding": "gzip" } : {}),
  };
}

function routeOptions(base: PhaseOptions, key: string, bodies: BodySource, durationS: number): PhaseOptions {
  const segment = bodies.label.startsWith("segment");
  return {
    ...base,
    label: bodies.label,
    path: segment ? "/v1/batch" : "/v1/events/batch",
    body: () => bodies.next(),
    ...(segment ? { headers: segmentHeaders(key, bodies.label.endsWith("gzip")) } : {}),
    durationS,
  };
}

function bodySources(batchSize: number, key: string): Record<ComparedRoute, BodySource> {
  return {
    own: ownBatchBodies(batchSize),
    ownSized: ownSegmentSizedBodies(batchSize),
    segment: segmentBatchBodies(batchSize, key, false),
    segmentGzip: segmentBatchBodies(batchSize, key, true),
  };
}

/**
 * Our batch route, with its own small events and with events of the Segment messages' bytes, and the Segment
 * route /v1/batch, plain and gzip, on the services of the main phases, with the batch phase's size and
 * connections. Every request carries new ids (our `id`, Segment's messageId), else the gateway would map a
 * repeated body to the same events and the stored count would fall short. The four run in `segmentRounds`
 * rounds of `segmentDurationS` each, in an order turned by one each round: the machine's drift (its other
 * work, the table growing) is larger than some differences measured, and a round's ratios compare phases
 * seconds apart. Undefined when BENCH_SEGMENT_DURATION_S=0.
 */
export async function compareSegmentRoute(
  pipeline: TestPipeline,
  settings: BenchSettings,
  base: PhaseOptions,
  reference: PhaseResult,
  problems: string[],
): Promise<SegmentComparison | undefined> {
  const { segmentDurationS: durationS, segmentRounds: rounds, batchSize } = settings;
  if (durationS === 0 || rounds === 0) return undefined;
  const key = base.apiKey;
  if (settings.warmupS > 0) {
    // The gzip route runs every step of the plain one, and the inflate.
    const warmup = segmentBatchBodies(batchSize, key, true);
    const phase = await ingestPhase(pipeline, { ...routeOptions(base, key, warmup, settings.warmupS), cpuGroups: {} });
    problems.push(...phase.problems.map((problem) => `warm-up ${problem}`));
  }
  const sources = bodySources(batchSize, key);
  const phases: Record<ComparedRoute, PhaseResult[]> = { own: [], ownSized: [], segment: [], segmentGzip: [] };
  for (let round = 0; round < rounds; round++) {
    for (let step = 0; step < comparedRoutes.length; step++) {
      const route = comparedRoutes[(round + step) % comparedRoutes.length] as ComparedRoute;
      const options = routeOptions(base, key, sources[route], durationS);
      const phase = await ingestPhase(pipeline, { ...options, label: `${options.label}, round ${round + 1}` });
      problems.push(...phase.problems);
      phases[route].push(phase);
    }
  }
  const run = (route: ComparedRoute): RouteRun => {
    const { bodies, bytes } = sources[route].made();
    return { label: sources[route].label, phases: phases[route], bodyBytes: bodies > 0 ? bytes / bodies : 0 };
  };
  const referenceBytes = typeof base.body === "string" ? Buffer.byteLength(base.body) : 0;
  return {
    rounds,
    durationS,
    reference: { label: "own batch, main phase", phases: [reference], bodyBytes: referenceBytes },
    routes: { own: run("own"), ownSized: run("ownSized"), segment: run("segment"), segmentGzip: run("segmentGzip") },
  };
}
