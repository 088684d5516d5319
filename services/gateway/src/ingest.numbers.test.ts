import { defaultEventLimits, type EventLimits, encodeEnvelope } from "@evpipe/shared";
import { describe, expect, it } from "vitest";
import { findDuplicateKey } from "./duplicate-keys.ts";
import { errorEnvelope } from "./testing/error-envelope.ts";
import { createTestGateway } from "./testing/test-deps.ts";

const numericRule =
  "must be a number PostgreSQL can store: at most 131072 digits before the decimal point and 16383 after it";
const textRule = "must be a string of 1 to 128 characters without control characters";

/** A gateway whose publisher keeps the envelope text it would send to JetStream. */
function setup(limits: Partial<EventLimits> = {}) {
  const envelopes: string[] = [];
  const gateway = createTestGateway({
    limits: { ...defaultEventLimits, ...limits },
    publisher: {
      async publish(events) {
        envelopes.push(encodeEnvelope(events).toString());
        return { newEvents: events.length };
      },
    },
  });
  const { key } = gateway.issueKey(["ingest"]);
  const post = async (path: string, text: string) => {
    const res = await gateway.app.request(path, {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: text,
    });
    return { res, body: (await res.json()) as Record<string, unknown> };
  };
  return { envelopes, post };
}

const event = (metadata: string) => `{"event":"num","user_id":"u1","metadata":${metadata}}`;

describe("numbers a JS number cannot hold", () => {
  it("are accepted and published exactly as sent", async () => {
    const { envelopes, post } = setup();
    const metadata = '{"inf":1e400,"big":12345678901234567890,"small":1e-400,"neg":-1E400,"list":[0.1,1.0,-0]}';
    const { res, body } = await post("/v1/events", event(metadata));
    expect(res.status, JSON.stringify(body)).toBe(202);
    expect(envelopes).toHaveLength(1);
    expect(envelopes[0]).toContain(
      '"metadata":{"inf":1e400,"big":12345678901234567890,"small":1e-400,"neg":-1E400,"list":[0.1,1,0]}',
    );
  });

  it("do not count as a level of nesting", async () => {
    const { post } = setup();
    // Ten levels of objects, the innermost holding a raw number: the limit is ten.
    const metadata = `${'{"a":'.repeat(9)}{"n":1e400}${"}".repeat(9)}`;
    const { res, body } = await post("/v1/events", event(metadata));
    expect(res.status, JSON.stringify(body)).toBe(202);
  });

  it("count in the serialized size with every digit sent", async () => {
    const { envelopes, post } = setup();
    // `{"n":` and `}` are 6 bytes: 16378 digits make exactly 16384 bytes.
    const fits = `{"n":${"9".repeat(16_378)}}`;
    const accepted = await post("/v1/events", event(fits));
    expect(accepted.res.status, JSON.stringify(accepted.body)).toBe(202);
    expect(envelopes[0]).toContain(fits);

    const over = await post("/v1/events", event(`{"n":${"9".repeat(16_379)}}`));
    expect(over.res.status).toBe(400);
    expect(over.body).toEqual(
      errorEnvelope(over.res.headers, "VALIDATION_ERROR", "1 field(s) break the event rules.", {
        metadata: ["must be at most 16384 bytes serialized"],
      }),
    );
  });

  it("count in the serialized size as PostgreSQL prints them back, not as written", async () => {
    const { post } = setup();
    // 1e16377 is 7 characters sent but 16378 digits stored: with `{"n":` and `}` exactly 16384 bytes.
    const fits = await post("/v1/events", event('{"n":1e16377}'));
    expect(fits.res.status, JSON.stringify(fits.body)).toBe(202);
    // A thousand short numbers that each read back as 131,001 digits would make a 131 MB row.
    for (const metadata of ['{"n":1e16378}', `{"n":[${Array(1000).fill("1e131000").join(",")}]}`]) {
      const over = await post("/v1/events", event(metadata));
      expect(over.res.status).toBe(400);
      expect(over.body).toEqual(
        errorEnvelope(over.res.headers, "VALIDATION_ERROR", "1 field(s) break the event rules.", {
          metadata: ["must be at most 16384 bytes serialized"],
        }),
      );
    }
  });

  it("are not objects where an object is required, nor strings where a string is", async () => {
    const { envelopes, post } = setup();
    const top = await post("/v1/events", "1e400");
    expect(top.body).toEqual(
      errorEnvelope(top.res.headers, "VALIDATION_ERROR", "1 field(s) break the event rules.", {
        body: ["must be a JSON object"],
      }),
    );
    const fields = await post("/v1/events", '{"event":12345678901234567890,"user_id":"u","metadata":1e400}');
    expect(fields.body).toEqual(
      errorEnvelope(fields.res.headers, "VALIDATION_ERROR", "2 field(s) break the event rules.", {
        event: [textRule],
        metadata: ["must be a JSON object"],
      }),
    );
    const batch = await post("/v1/events/batch", '{"events":[1e400]}');
    expect(batch.body).toEqual(
      errorEnvelope(batch.res.headers, "VALIDATION_ERROR", "1 field(s) break the event rules.", {
        "events.0": ["must be a JSON object"],
      }),
    );
    expect(envelopes).toEqual([]);
  });
});

describe("numbers PostgreSQL cannot store", () => {
  it.each([
    ["1e131072", '{"x":1e131072}', "metadata.x"],
    ["1e-16384", '{"x":1e-16384}', "metadata.x"],
    ["1.5e-16383 in an array", '{"a":{"b":[1,1.5e-16383]}}', "metadata.a.b.1"],
    ["-1e999999999999999999999", '{"ok":1e400,"x":-1e999999999999999999999}', "metadata.x"],
  ])("are refused with 400 naming the field (%s), publishing nothing", async (_name, metadata, path) => {
    const { envelopes, post } = setup();
    const { res, body } = await post("/v1/events", event(metadata));
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(body).toEqual(
      errorEnvelope(res.headers, "VALIDATION_ERROR", "1 field(s) break the event rules.", { [path]: [numericRule] }),
    );
    expect(envelopes).toEqual([]);
  });

  it("refuse the whole batch, naming the event by its index", async () => {
    const { envelopes, post } = setup();
    const fine = event('{"big":12345678901234567890}');
    const text = `{"events":[${fine},${fine},${fine},${event('{"ok":1,"x":1e131072}')}]}`;
    const { res, body } = await post("/v1/events/batch", text);
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(body).toEqual(
      errorEnvelope(res.headers, "VALIDATION_ERROR", "1 field(s) break the event rules.", {
        "events.3.metadata.x": [numericRule],
      }),
    );
    expect(envelopes).toEqual([]);
  });

  it("are accepted right at the limits, where the metadata size allows them", async () => {
    // 9.999e131071 reads back as 131,072 digits: only a raised metadata limit lets it in at all.
    const { envelopes, post } = setup({ maxMetadataBytes: 1024 * 1024 });
    const metadata = '{"top":9.999e131071,"tiny":1e-16383,"scaled":123.45e-16381}';
    const { res, body } = await post("/v1/events", event(metadata));
    expect(res.status, JSON.stringify(body)).toBe(202);
    expect(envelopes[0]).toContain(metadata);
  });
});

describe("duplicate keys beside raw numbers", () => {
  it("are still refused as INVALID_JSON", async () => {
    const { envelopes, post } = setup();
    const { res, body } = await post("/v1/events", event('{"n":1e400,"m":12345678901234567890,"n":2}'));
    expect(res.status).toBe(400);
    expect(body).toEqual(
      errorEnvelope(res.headers, "INVALID_JSON", 'The request body repeats the key "n" in one object.'),
    );
    expect(envelopes).toEqual([]);
  });

  it("are found among many keys of one object, and distinct keys are not mistaken for them", () => {
    const keys = Array.from({ length: 40 }, (_, i) => `"k${i}":${i}e400`);
    expect(findDuplicateKey(`{${keys.join(",")}}`)).toBeUndefined();
    expect(findDuplicateKey(`{${keys.join(",")},"k3":1}`)).toBe("k3");
    expect(findDuplicateKey(`{${keys.join(",")},"k39":1}`)).toBe("k39");
    expect(findDuplicateKey(`{"a":"\\"k1\\"","k1":{"k1":1},"k\\u0031":2}`)).toBe("k1");
  });

  it("are found in an object of 200,000 keys, past the point where its keys move from a list to a set", () => {
    const keys = Array.from({ length: 200_000 }, (_, i) => `"k${i}":1`);
    expect(findDuplicateKey(`{${keys.join(",")}}`)).toBeUndefined();
    expect(findDuplicateKey(`{${keys.join(",")},"k0":2}`)).toBe("k0");
    expect(findDuplicateKey(`{${keys.join(",")},"k199999":2}`)).toBe("k199999");
  });
});
