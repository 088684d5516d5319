import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { uniqueId } from "./support/pipeline.ts";
import { usePipelineServices } from "./support/pipeline-services.ts";
import {
  basicAuth,
  consumerSettled,
  eventIdOf,
  eventNameOf,
  keyKnown,
  postSegment,
  rudderClient,
  rudderSent,
  type SentBatch,
  type SentMessage,
  segmentClient,
  storedOnce as storedEvents,
} from "./support/segment-clients.ts";
import { waitFor } from "./support/wait-for.ts";

const services = usePipelineServices();
let readKey: string;

beforeAll(async () => {
  ({ key: readKey } = await services.pipeline.createKey(["read"], "segment-reader"));
  await keyKnown(services.gateway.url, readKey);
});

// Wall-clock time a faked Date cannot move: the offset is taken while Date is still real.
const clockOffset = Date.now() - performance.now();
const realNow = () => clockOffset + performance.now();
const byId = <T extends { id: string }>(a: T, b: T) => (a.id < b.id ? -1 : 1);

const storedOnce = async (ids: string[]) => (await storedEvents(services.pipeline, ids)).sort(byId);

/** The row a sent message must have become, its times aside. */
function expectedRow({ message, request }: { message: SentMessage; request: SentBatch }) {
  const anonymousId = (message.anonymousId as string | undefined) ?? null;
  return {
    id: eventIdOf(message.messageId, services.keyId),
    type: message.type,
    event: eventNameOf(message),
    user_id: (message.userId as string | undefined) ?? anonymousId,
    anonymous_id: anonymousId,
    key_id: services.keyId,
    // The whole message as sent, with the batch's sentAt where it has none of its own; nothing else.
    metadata: { sentAt: request.sentAt, ...message },
  };
}

const withoutTimes = <T extends { occurred_at: Date; received_at: Date }>({ occurred_at, received_at, ...row }: T) =>
  row;

async function readJson<T>(path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(services.gateway.url + path, { headers: { "x-api-key": readKey } });
  return { status: res.status, body: (await res.json()) as T };
}

describe("Segment SDKs against the gateway", () => {
  it("analytics-node: every call type is stored once, with its user, name, type and whole message, at its timestamp", async () => {
    const user = uniqueId("seg-user-");
    const anon = uniqueId("seg-anon-");
    const checkout = uniqueId("checkout-");
    const { analytics, wire } = segmentClient(services.gateway.url, services.key);
    const calledAt = realNow();
    analytics.track({ userId: user, anonymousId: anon, event: checkout, properties: { plan: "pro", amount: 12.5 } });
    analytics.identify({ userId: user, anonymousId: anon, traits: { email: "ada@example.com", age: 36 } });
    analytics.page({ anonymousId: anon, name: "Pricing", properties: { path: "/pricing" } });
    analytics.page({ userId: user, properties: { path: "/" } });
    analytics.screen({ userId: user, name: "Home", properties: { tab: 2 } });
    analytics.group({ userId: user, groupId: "org-1", traits: { plan: "team" } });
    analytics.alias({ userId: user, previousId: anon });
    await analytics.closeAndFlush();
    expect(wire.statuses, wire.report()).toEqual([200]);
    expect(wire.errors).toEqual([]);

    const sent = wire.messages();
    const types = sent.map(({ message }) => message.type);
    expect(types).toEqual(["track", "identify", "page", "page", "screen", "group", "alias"]);
    // analytics-node's own ids (node-next-<ms>-<uuid>) are not UUIDs: each becomes a UUIDv5 in the key's namespace.
    for (const { message } of sent) expect(message.messageId).toMatch(/^node-next-\d+-[0-9a-f-]{36}$/);
    const expected = sent.map(expectedRow).sort(byId);
    const rows = await storedOnce(expected.map((row) => row.id));
    expect(rows.map(withoutTimes)).toEqual(expected);
    expect(rows.map((row) => row.event).sort()).toEqual(
      [checkout, "Home", "Pricing", "alias", "group", "identify", "page"].sort(),
    );
    for (const row of rows) {
      const { message } = sent.find(({ message }) => eventIdOf(message.messageId, services.keyId) === row.id) ?? {};
      // analytics-node stamps `timestamp` at the call; one not in the future is kept as it is.
      expect(row.occurred_at.toISOString()).toBe(message?.timestamp);
      expect(Math.abs(row.occurred_at.getTime() - calledAt)).toBeLessThan(2000);
    }
  });

  it("rudder-sdk-node: its gzipped batches are read, and its UUID messageIds are the event ids", async () => {
    const user = uniqueId("rs-user-");
    const anon = uniqueId("rs-anon-");
    const { client, wire } = rudderClient(services.gateway.url, services.key);
    const calledAt = realNow();
    const calls = [
      rudderSent((done) => client.track({ userId: user, event: "signed up", properties: { source: "ads" } }, done)),
      rudderSent((done) => client.identify({ userId: user, anonymousId: anon, traits: { name: "Ada" } }, done)),
      rudderSent((done) => client.page({ anonymousId: anon, name: "Docs", properties: { path: "/docs" } }, done)),
      rudderSent((done) => client.screen({ userId: user, name: "Settings" }, done)),
      rudderSent((done) => client.group({ userId: user, groupId: "org-2", traits: { seats: 5 } }, done)),
      rudderSent((done) => client.alias({ userId: user, previousId: anon }, done)),
    ];
    await client.flush();
    await Promise.all(calls);
    expect(wire.errors.map(String), wire.report()).toEqual([]);
    // Its first call goes out at once, the others on flush(); each request gzipped (the interceptor gunzips it).
    expect(wire.requests.map((request) => request.batch.length)).toEqual([1, 5]);

    const sent = wire.messages();
    expect(sent.map(({ message }) => message.type)).toEqual(["track", "identify", "page", "screen", "group", "alias"]);
    const expected = sent.map(expectedRow);
    expect(expected.map((row) => row.id)).toEqual(sent.map(({ message }) => message.messageId));
    const rows = await storedOnce(expected.map((row) => row.id));
    expect(rows.map(withoutTimes)).toEqual(expected.sort(byId));
    // No timestamp: received_at - (sentAt - originalTimestamp), on one machine's clock the call's own time.
    for (const row of rows) expect(Math.abs(row.occurred_at.getTime() - calledAt)).toBeLessThan(1000);
  });

  it("the user lookup and the stats count SDK events like any other", async () => {
    const user = uniqueId("stats-user-");
    const upgraded = uniqueId("upgraded-");
    const segment = segmentClient(services.gateway.url, services.key);
    segment.analytics.track({ userId: user, event: upgraded });
    segment.analytics.track({ userId: user, event: upgraded, properties: { again: true } });
    await segment.analytics.closeAndFlush();
    const rudder = rudderClient(services.gateway.url, services.key);
    const rudderCalls = [
      rudderSent((done) => rudder.client.track({ anonymousId: user, event: upgraded }, done)),
      rudderSent((done) => rudder.client.identify({ userId: user }, done)),
    ];
    await rudder.client.flush();
    await Promise.all(rudderCalls);
    expect([...segment.wire.errors, ...rudder.wire.errors].map(String)).toEqual([]);
    const ids = [...segment.wire.messages(), ...rudder.wire.messages()].map(({ message }) =>
      eventIdOf(message.messageId, services.keyId),
    );
    const rows = await storedOnce(ids);
    expect(rows).toHaveLength(4);

    const lookup = await readJson<{ events: Array<{ id: string; type: string; anonymous_id: string | null }> }>(
      `/v1/events?user_id=${user}&limit=100`,
    );
    expect(lookup.status, JSON.stringify(lookup.body)).toBe(200);
    expect(lookup.body.events.map((event) => event.id).sort()).toEqual([...ids].sort());
    expect(lookup.body.events.map((event) => event.type).sort()).toEqual(["identify", "track", "track", "track"]);

    const days = rows.map((row) => row.occurred_at.toISOString().slice(0, 10)).sort();
    const path = `/v1/stats/top-events?from=${days[0]}&to=${days.at(-1)}&limit=100`;
    type TopEvents = { events: Array<{ event: string; count: number; users: number }> };
    const top = await waitFor("top-events to count them", async () => {
      const res = await readJson<TopEvents>(path);
      return res.body.events?.some((row) => row.event === upgraded) ? res : undefined;
    });
    expect(top.status, JSON.stringify(top.body)).toBe(200);
    expect(top.body.events.find((row) => row.event === upgraded)).toEqual({ event: upgraded, count: 3, users: 1 });
  });

  it("the same non-UUID messageId in two requests is stored once; under another key it is another event", async () => {
    const user = uniqueId("dup-user-");
    const messageId = uniqueId("order-42-");
    for (const attempt of [1, 2]) {
      const { analytics, wire } = segmentClient(services.gateway.url, services.key);
      analytics.track({ userId: user, event: "order completed", messageId, properties: { attempt } });
      await analytics.closeAndFlush();
      expect(wire.statuses, wire.report()).toEqual([200]);
    }
    const message = { type: "track", userId: user, event: "order completed", messageId, properties: { attempt: 3 } };
    const third = await postSegment(
      services.gateway.url,
      "/v1/batch",
      { batch: [message] },
      {
        headers: { authorization: basicAuth(services.key) },
      },
    );
    expect(third.status, third.text).toBe(200);
    expect(third.body).toEqual({ success: true, accepted: 1 });
    const other = await services.pipeline.createKey(["ingest"], "another-producer");
    await keyKnown(services.gateway.url, other.key);
    const fromOther = await postSegment(services.gateway.url, "/v1/track", { ...message, writeKey: other.key });
    expect(fromOther.status, fromOther.text).toBe(200);

    const id = eventIdOf(messageId, services.keyId);
    const otherId = eventIdOf(messageId, other.id);
    expect(otherId).not.toBe(id);
    await storedOnce([id, otherId]);
    await consumerSettled(services.pipeline);
    const rows = await services.pipeline.db.selectFrom("events").selectAll().where("user_id", "=", user).execute();
    expect(rows.map((row) => [row.id, row.key_id]).sort()).toEqual(
      [
        [id, services.keyId],
        [otherId, other.id],
      ].sort(),
    );
    // The first one sent is the one kept.
    expect(rows.find((row) => row.id === id)?.metadata).toMatchObject({ messageId, properties: { attempt: 1 } });
  });
});

describe("a client clock one hour ahead", () => {
  // Only Date is faked, and it keeps running: the SDKs' timers, fetch and waitFor's deadlines still work.
  const aheadOneHour = () =>
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 3_600_000, shouldAdvanceTime: true });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("rudder-sdk-node (originalTimestamp and sentAt, no timestamp): stored at the call's real time within 1 s", async () => {
    const user = uniqueId("clock-rs-");
    const { client, wire } = rudderClient(services.gateway.url, services.key, { flushInterval: 1500 });
    aheadOneHour();
    const sentAtOnceAt = realNow();
    const sentAtOnce = rudderSent((done) => client.track({ userId: user, event: "sent at once" }, done));
    const queuedAt = realNow();
    // The SDK sends it on its flush timer, 1.5 s after the call: the delay the correction must take off.
    const queued = rudderSent((done) => client.track({ userId: user, event: "queued" }, done));
    await Promise.all([sentAtOnce, queued]);
    vi.useRealTimers();
    expect(wire.errors.map(String), wire.report()).toEqual([]);
    expect(wire.requests).toHaveLength(2);

    const sent = wire.messages().map(({ message }) => message);
    const skew = Date.parse(sent[0]?.originalTimestamp as string) - sentAtOnceAt;
    expect(Math.abs(skew - 3_600_000), "the client's clock is an hour ahead").toBeLessThan(1000);
    const rows = await storedOnce(sent.map((message) => message.messageId));
    const occurredAt = (event: string) => rows.find((row) => row.event === event)?.occurred_at.getTime() ?? 0;
    expect(Math.abs(occurredAt("sent at once") - sentAtOnceAt), JSON.stringify(rows)).toBeLessThan(1000);
    expect(Math.abs(occurredAt("queued") - queuedAt), JSON.stringify(rows)).toBeLessThan(1000);
  });

  it("analytics-node (a future timestamp): moved back by sentAt - received_at, to the call's real time within 1 s", async () => {
    const user = uniqueId("clock-node-");
    const { analytics, wire } = segmentClient(services.gateway.url, services.key, { flushInterval: 1500 });
    aheadOneHour();
    const calledAt = realNow();
    // Sent by the SDK's flush timer 1.5 s after the call; the callback comes with the answer.
    await new Promise((resolve) => analytics.track({ userId: user, event: "clock ahead" }, resolve));
    vi.useRealTimers();
    await analytics.closeAndFlush();
    expect(wire.statuses, wire.report()).toEqual([200]);

    const [sent] = wire.messages();
    expect(Math.abs(Date.parse(sent?.message.timestamp as string) - calledAt - 3_600_000)).toBeLessThan(1000);
    const [row] = await storedOnce([eventIdOf(sent?.message.messageId ?? "", services.keyId)]);
    expect(Math.abs((row?.occurred_at.getTime() ?? 0) - calledAt), JSON.stringify(row)).toBeLessThan(1000);
  });
});
