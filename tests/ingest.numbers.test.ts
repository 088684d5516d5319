import { errorEnvelope } from "@evpipe/gateway/testing";
import { fitsPostgresNumeric } from "@evpipe/shared";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { usePipelineServices } from "./support/pipeline-services.ts";
import { waitFor } from "./support/wait-for.ts";

// A 202 promises the event is stored as sent: numbers a JS number cannot hold included (ADR: numbers).
let readKey: string;
// Numbers at numeric's limits read back as up to 131,072 digits, so the metadata limit is raised to let them in.
const raisedLimit = { MAX_METADATA_BYTES: String(1024 * 1024) };
const services = usePipelineServices({
  gatewayEnv: raisedLimit,
  consumerEnv: raisedLimit,
  async prepare(pipeline) {
    ({ key: readKey } = await pipeline.createKey(["read"]));
  },
});

const numericRule =
  "must be a number PostgreSQL can store: at most 131072 digits before the decimal point and 16383 after it";

/** POSTs `text` exactly as written (never through JSON.stringify, which would round the numbers). */
async function postText(path: string, text: string) {
  const res = await fetch(services.gateway.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": services.key },
    body: text,
    signal: AbortSignal.timeout(15_000),
  });
  const answer = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text: answer,
    body: JSON.parse(answer) as Record<string, unknown>,
  };
}

const waitStored = (ids: readonly string[]) =>
  waitFor(`${ids.length} events stored`, async () => (await services.pipeline.storedCount(ids)) === ids.length);

/** For each id, whether its stored metadata equals the sent JSON text as jsonb (numbers compared as numeric). */
async function storedAsSent(ids: readonly string[], sent: readonly string[]): Promise<boolean[]> {
  const { rows } = await sql<{ same: boolean | null }>`
    SELECT e.metadata = s.sent::jsonb AS same
    FROM unnest(${ids}::uuid[], ${sent}::text[]) WITH ORDINALITY AS s (id, sent, n)
    LEFT JOIN events e ON e.id = s.id
    ORDER BY s.n`.execute(services.pipeline.db);
  return rows.map((row) => row.same === true);
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("numbers a JS number cannot hold, end to end", () => {
  it("stores 1e400, 12345678901234567890 and 1e-400 exactly as sent", async () => {
    const metadata = '{"inf":1e400,"big":12345678901234567890,"small":1e-400}';
    const res = await postText("/v1/events", `{"event":"num","user_id":"u1","metadata":${metadata}}`);
    expect(res.status, res.text).toBe(202);
    expect(res.body).toEqual({ id: expect.stringMatching(uuid), status: "accepted", received_at: expect.any(String) });
    const id = res.body.id as string;
    await waitStored([id]);
    expect(await storedAsSent([id], [metadata])).toEqual([true]);
    const { rows } = await sql<Record<string, string>>`
      SELECT metadata->>'big' AS big, metadata->>'inf' AS inf, metadata->>'small' AS small,
        (metadata->'inf')::numeric = 1e400 AS inf_equal, (metadata->'small')::numeric = 1e-400 AS small_equal
      FROM events WHERE id = ${id}`.execute(services.pipeline.db);
    expect(rows).toEqual([
      {
        big: "12345678901234567890",
        inf: `1${"0".repeat(400)}`,
        small: `0.${"0".repeat(399)}1`,
        inf_equal: true,
        small_equal: true,
      },
    ]);
    // And reads it back as it was sent, not as a JS number would round it.
    const read = await fetch(`${services.gateway.url}/v1/events/${id}`, { headers: { "x-api-key": readKey } });
    const text = await read.text();
    expect(read.status, text).toBe(200);
    expect(text).toContain('"big":12345678901234567890');
    // No number became null on the way (an event of our own API has no anonymous id: that null is the column's).
    const storedMetadata = text.slice(text.indexOf('"metadata":'), text.indexOf(',"request_id":'));
    expect(storedMetadata).toContain('"inf":1');
    expect(storedMetadata).not.toContain("null");
    expect(text).toContain('"type":"track","anonymous_id":null}');
  });

  it("stores a batch of numbers at the edges of what PostgreSQL holds, each exactly", async () => {
    const numbers = [
      "1e131071",
      "-9.999e131071",
      "1e-16383",
      "123.45e-16381",
      "12345678901234567890.12345678901234567890",
      "9007199254740993",
      "-9007199254740993",
      "1.7976931348623157e308",
      "1.8e308",
      "5e-324",
      "2e-324",
      "0.1",
      "-0",
      "1.0",
      "1E2",
      "0.30000000000000004",
      "0.1000000000000000055511151231257827",
    ];
    const sent = numbers.map((n, i) => `{"n":${n},"nested":{"list":[${n},"${n}"]},"i":${i}}`);
    const body = `{"events":[${sent.map((m, i) => `{"event":"edge","user_id":"u${i}","metadata":${m}}`).join(",")}]}`;
    const res = await postText("/v1/events/batch", body);
    expect(res.status, res.text).toBe(202);
    expect(res.body).toEqual({ accepted: numbers.length, ids: expect.any(Array), received_at: expect.any(String) });
    const ids = res.body.ids as string[];
    await waitStored(ids);
    expect(await storedAsSent(ids, sent)).toEqual(numbers.map(() => true));
    const { rows } = await sql<{ big: string }>`SELECT metadata->>'n' AS big FROM events WHERE id = ${ids[4]}`.execute(
      services.pipeline.db,
    );
    expect(rows).toEqual([{ big: "12345678901234567890.12345678901234567890" }]);
    expect((await services.pipeline.jsm.streams.info(services.pipeline.names.dlqStream)).state.messages).toBe(0);
  });

  it("refuses with 400 a number PostgreSQL cannot store, and publishes and stores nothing", async () => {
    const ids = ["0192e4c2-7f1a-7000-8000-0000000a0001", "0192e4c2-7f1a-7000-8000-0000000a0002"];
    const before = await services.pipeline.publishedCount();
    const single = await postText(
      "/v1/events",
      `{"id":"${ids[0]}","event":"num","user_id":"u1","metadata":{"ok":1e400,"x":1e131072}}`,
    );
    expect(single.status, single.text).toBe(400);
    expect(single.body).toEqual(
      errorEnvelope(single.headers, "VALIDATION_ERROR", "1 field(s) break the event rules.", {
        "metadata.x": [numericRule],
      }),
    );
    const fine = '{"event":"num","user_id":"u1","metadata":{"big":12345678901234567890}}';
    const batch = await postText(
      "/v1/events/batch",
      `{"events":[${fine},${fine},${fine},{"id":"${ids[1]}","event":"num","user_id":"u","metadata":{"x":1e-16384}}]}`,
    );
    expect(batch.status, batch.text).toBe(400);
    expect(batch.body).toEqual(
      errorEnvelope(batch.headers, "VALIDATION_ERROR", "1 field(s) break the event rules.", {
        "events.3.metadata.x": [numericRule],
      }),
    );
    // Stored in order: once a later event is stored, the refused ones would have been too.
    const later = await postText("/v1/events", '{"event":"after","user_id":"u"}');
    await waitStored([later.body.id as string]);
    expect(await services.pipeline.publishedCount()).toBe(before + 1);
    expect(await services.pipeline.storedCount(ids)).toBe(0);
  });
});

describe("fitsPostgresNumeric", () => {
  it("agrees with this PostgreSQL on numbers around its limits", async () => {
    const texts = [
      "1e131071",
      "1e131072",
      "9.9999e131071",
      "0.5e131072",
      "10e131070",
      "100e131070",
      "0.0000000001e131081",
      "0.0000000001e131082",
      "1e-16383",
      "1e-16384",
      "10e-16384",
      "1.5e-16383",
      "1.0e-16382",
      "1.00e-16382",
      "123.45e-16381",
      "123.456e-16381",
      "0e-16383",
      "0e-16384",
      "0e999999",
      "-1e131072",
      "1e1073741823",
      `1${"0".repeat(131_071)}`,
      `1${"0".repeat(131_072)}`,
      `0.${"0".repeat(16_382)}1`,
      `0.${"0".repeat(16_383)}1`,
    ];
    for (const text of texts) {
      const stored = await sql`SELECT ${text}::jsonb AS value`.execute(services.pipeline.db).then(
        () => true,
        (err: { code?: string }) => {
          expect(err.code, text.slice(0, 40)).toBe("22003");
          return false;
        },
      );
      expect(fitsPostgresNumeric(text), text.slice(0, 40)).toBe(stored);
    }
  });
});
