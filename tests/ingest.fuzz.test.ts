import http from "node:http";
import { createJetStreamPublisher } from "@evpipe/gateway/publisher";
import { createTestGateway } from "@evpipe/gateway/testing";
import fc from "fast-check";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import {
  type FuzzBody,
  fuzzBody,
  fuzzChunking,
  fuzzContentType,
  fuzzExamples,
  type Materialized,
  materialize,
} from "./support/fuzz-bodies.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { waitFor } from "./support/wait-for.ts";

// FUZZ_RUNS=20000 FUZZ_HTTP_RUNS=20000 FUZZ_SEED=7 pnpm vitest run tests/ingest.fuzz.test.ts for a longer run.
const runs = Number(process.env.FUZZ_RUNS ?? 1000);
const httpRuns = Number(process.env.FUZZ_HTTP_RUNS ?? 1000);
const seed = Number(process.env.FUZZ_SEED ?? 20261123);

const services = usePipelineServices({ key: { name: "fuzz", limits: { rate: 1_000_000, burst: 1_000_000 } } });

/** What an accepted event must be stored as. */
interface StoredRow {
  id: string;
  event: string;
  user_id: string;
  client_ts: string | null;
  /** The metadata's JSON text as sent, numbers exactly as written. */
  metadata: string | null;
  received_at: string;
}

const json = "application/json" as const;
let counter = 0;
const freshId = () => `0192e4c2-0000-7000-8000-${(counter++).toString(16).padStart(12, "0")}`;

/** What every case must satisfy, and what the end of the run checks against the database. */
function createLedger() {
  const expected: StoredRow[] = [];
  const rejected: string[] = [];
  const statuses = new Map<number, number>();
  let acceptedRequests = 0;
  let largestBatch = 0;
  return {
    expected,
    rejected,
    statuses,
    get acceptedRequests() {
      return acceptedRequests;
    },
    get largestBatch() {
      return largestBatch;
    },
    record(input: FuzzBody, body: Materialized, status: number, text: string) {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      expect(status, text).toBeLessThan(500);
      const answer = JSON.parse(text) as { id?: string; ids?: string[]; received_at?: string; error?: object };
      if ("oversizedBy" in input) expect([413, 415], text).toContain(status);
      if (status !== 202) {
        expect(answer.error, text).toBeDefined();
        rejected.push(...body.assigned);
        return;
      }
      acceptedRequests++;
      const ids = answer.ids ?? [answer.id as string];
      expect(ids.length, text).toBe(body.sent.length);
      largestBatch = Math.max(largestBatch, ids.length);
      ids.forEach((id, i) => {
        const event = body.sent[i] as Record<string, unknown>;
        expected.push({
          id,
          event: event.event as string,
          user_id: event.user_id as string,
          client_ts: (event.client_ts as string | undefined) ?? null,
          metadata: event.metadata === undefined ? null : JSON.stringify(event.metadata),
          received_at: answer.received_at as string,
        });
      });
    },
  };
}
type Ledger = ReturnType<typeof createLedger>;

/** The accepted events that are missing or differ from what was sent; jsonb compares numbers exactly. */
async function storedDifferently(rows: readonly StoredRow[]): Promise<unknown[]> {
  const column = <K extends keyof StoredRow>(name: K) => rows.map((row) => row[name]);
  const { rows: differing } = await sql<{ id: string }>`
    SELECT s.id::text, e.event, e.user_id, e.occurred_at, e.metadata::text, s.metadata AS sent_metadata
    FROM unnest(${column("id")}::uuid[], ${column("event")}::text[], ${column("user_id")}::text[],
      ${column("client_ts")}::text[], ${column("metadata")}::text[], ${column("received_at")}::text[])
      AS s (id, event, user_id, client_ts, metadata, received_at)
    LEFT JOIN events e ON e.id = s.id
    WHERE e.id IS NULL OR e.event <> s.event OR e.user_id <> s.user_id
      OR e.received_at <> s.received_at::timestamptz
      OR e.occurred_at <> coalesce(s.client_ts::timestamptz, s.received_at::timestamptz)
      OR e.metadata IS DISTINCT FROM s.metadata::jsonb
    LIMIT 5`.execute(services.pipeline.db);
  return differing;
}

async function verify(ledger: Ledger, publishedBefore: number, name: string, run: { cases: number; seed: number }) {
  const { cases } = run;
  const summary = Object.fromEntries([...ledger.statuses].sort());
  process.stdout.write(`fuzz ${name}: ${cases} cases, seed ${run.seed}, statuses ${JSON.stringify(summary)}, `);
  // Metadata that JSON.parse alone would have changed: numbers a JS number cannot hold.
  const exactOnly = ledger.expected.filter(
    (row) => row.metadata && JSON.stringify(JSON.parse(row.metadata)) !== row.metadata,
  );
  process.stdout.write(`${ledger.expected.length} events accepted, ${exactOnly.length} with such numbers, `);
  process.stdout.write(`largest batch accepted ${ledger.largestBatch}\n`);
  expect(exactOnly.length).toBeGreaterThan(cases / 20);
  expect(ledger.largestBatch).toBe(1000);
  expect(ledger.statuses.get(413)).toBeGreaterThan(0);
  expect(ledger.acceptedRequests).toBeGreaterThan(cases / 20);
  expect(ledger.rejected.length).toBeGreaterThan(cases / 20);
  // One JetStream message per accepted request, none for a rejected one.
  expect(await services.pipeline.publishedCount()).toBe(publishedBefore + ledger.acceptedRequests);
  const ids = ledger.expected.map((row) => row.id);
  await waitFor(
    "every accepted event to be stored",
    async () => (await services.pipeline.storedCount(ids)) === ids.length,
    {
      timeoutMs: 60_000,
      intervalMs: 250,
    },
  );
  expect(await storedDifferently(ledger.expected)).toEqual([]);
  expect(await services.pipeline.storedCount(ledger.rejected)).toBe(0);
  expect((await services.pipeline.jsm.streams.info(services.pipeline.names.dlqStream)).state.messages).toBe(0);
}

/**
 * POSTs through a real socket, whole with Content-Length or in chunks of the given sizes (cut anywhere, inside
 * a UTF-8 character too). Resolves with the answer even when the server closes before the body is sent.
 */
function postOverHttp(
  agent: http.Agent,
  path: string,
  headers: Record<string, string>,
  payload: string | Uint8Array,
  chunks: number[] | null,
): Promise<{ status: number; text: string }> {
  const body = Buffer.from(payload);
  const framing = chunks ? { "transfer-encoding": "chunked" } : { "content-length": String(body.length) };
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(`${services.gateway.url}${path}`, {
      method: "POST",
      agent,
      headers: { ...headers, ...framing },
    });
    req.on("response", (res) => {
      answered = true;
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      res.on("error", reject);
    });
    req.on("error", (err) => {
      if (!answered) reject(err);
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer to ${path} in 15 s`)));
    if (!chunks) return void req.end(body);
    let offset = 0;
    for (let i = 0; offset < body.length; i++) {
      const size = i < chunks.length ? (chunks[i] as number) : body.length - offset;
      req.write(body.subarray(offset, offset + size));
      offset += size;
    }
    req.end();
  });
}

describe("ingest fuzzing", () => {
  it(`in process: never 5xx; every 2xx is stored as sent, every 4xx stores nothing (${runs} cases)`, async () => {
    const publisher = createJetStreamPublisher({
      nc: services.pipeline.nc,
      subject: services.pipeline.names.eventsSubject,
      timeoutMs: 5000,
      maxInFlight: 4096,
    });
    const app = createTestGateway({ publisher });
    const { key: appKey } = app.issueKey(["ingest"], { rate: 1_000_000, burst: 1_000_000 });
    const ledger = createLedger();
    const publishedBefore = await services.pipeline.publishedCount();
    await fc.assert(
      fc.asyncProperty(fuzzBody, fuzzContentType, async (input, type) => {
        const body = materialize(input, freshId);
        const res = await app.app.request(input.path, {
          method: "POST",
          headers: { "x-api-key": appKey, ...(type ? { "content-type": type } : {}) },
          body: body.payload,
        });
        ledger.record(input, body, res.status, await res.text());
      }),
      {
        numRuns: runs,
        seed,
        endOnFailure: true,
        examples: fuzzExamples.map((body): [FuzzBody, typeof json] => [body, json]),
      },
    );
    await verify(ledger, publishedBefore, "in process", { cases: runs, seed });
    publisher.close();
  });

  it(`over HTTP to a gateway process, with Content-Length and chunked: the same (${httpRuns} cases)`, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ledger = createLedger();
    const publishedBefore = await services.pipeline.publishedCount();
    await fc.assert(
      fc.asyncProperty(fuzzBody, fuzzContentType, fuzzChunking, async (input, type, chunks) => {
        const body = materialize(input, freshId);
        const headers = { "x-api-key": services.key, ...(type ? { "content-type": type } : {}) };
        const { status, text } = await postOverHttp(agent, input.path, headers, body.payload, chunks);
        ledger.record(input, body, status, text);
      }),
      {
        numRuns: httpRuns,
        seed: seed + 1,
        endOnFailure: true,
        examples: fuzzExamples.flatMap(
          (body): Array<[FuzzBody, typeof json, number[] | null]> => [
            [body, json, null],
            [body, json, [1, 7, 4096]],
          ],
        ),
      },
    );
    agent.destroy();
    await verify(ledger, publishedBefore, "over HTTP", { cases: httpRuns, seed: seed + 1 });
  });
});
