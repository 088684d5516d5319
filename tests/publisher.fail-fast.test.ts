import { randomUUID } from "node:crypto";
import { createJetStreamPublisher, PublishError } from "@evpipe/gateway/publisher";
import {
  connectNats,
  createLogger,
  defaultStreamSettings,
  type EnvelopeEvent,
  type NatsNames,
  natsNames,
  provisionStreams,
} from "@evpipe/shared";
import { connect, type NatsConnection } from "nats";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { uniqueId } from "./support/pipeline.ts";
import { startNatsServer, type ThrowawayNats } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

// Large, so that no assertion below can pass by waiting out the timeout.
const timeoutMs = 10_000;
const fastMs = timeoutMs / 5;

let nats: ThrowawayNats;
let names: NatsNames;
/** The gateway's kind of connection: connectNats, which reconnects forever every 250 ms. */
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  names = natsNames(uniqueId("pub"));
  nc = await connectNats({
    servers: nats.url,
    name: "publisher-test",
    log: createLogger({ service: "t", level: "silent" }),
  });
  await provisionStreams(await nc.jetstreamManager(), names, defaultStreamSettings);
});

// What each test opens, closed after it (last opened first), whether it passed or not.
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

afterAll(async () => {
  await nc?.close();
  await nats?.cleanup();
});

const events = (count: number): EnvelopeEvent[] =>
  Array.from({ length: count }, () => ({
    id: randomUUID(),
    event: "e",
    user_id: "u",
    received_at: new Date().toISOString(),
    request_id: "req",
    key_id: "key",
  }));

function publisherOn(subject: string, publishTimeoutMs = timeoutMs) {
  const publisher = createJetStreamPublisher({ nc, subject, timeoutMs: publishTimeoutMs, maxInFlight: 4096 });
  closers.push(() => publisher.close());
  return publisher;
}

/** A subscriber that takes every message on `subject` and never answers: publishes to it await their PubAck. */
async function silentSubscriber(subject: string) {
  const listener = await connect({ servers: nats.url, reconnect: false });
  closers.push(() => listener.close());
  let received = 0;
  listener.subscribe(subject, { callback: () => received++ });
  await listener.flush();
  // Its flush: every message already delivered to it has been counted.
  return { received: () => received, flush: () => listener.flush() };
}

async function failureOf(promise: Promise<unknown>) {
  const started = performance.now();
  const err = await promise.then(
    () => new Error("resolved"),
    (rejection: unknown) => rejection,
  );
  return { err, elapsedMs: performance.now() - started };
}

describe("the JetStream publisher when the connection drops", () => {
  it("rejects every publish awaiting its PubAck at once, refuses new ones until the reconnect, then publishes again; a retry of a stored message is absorbed", async () => {
    const silent = `silent.${uniqueId("")}`;
    const listener = await silentSubscriber(silent);
    const held = publisherOn(silent);
    const stream = publisherOn(names.eventsSubject);
    const stored = events(3);
    await stream.publish(stored, "before-the-drop");

    const inFlight = Array.from({ length: 20 }, () => held.publish(events(2), "in-flight"));
    const outcomes = Promise.allSettled(inFlight);
    await waitFor("the publishes to reach the server", () => listener.received() === inFlight.length);
    const killAt = performance.now();
    await nats.kill("SIGKILL");
    const settled = await outcomes;
    const rejectedAfterMs = performance.now() - killAt;

    expect(rejectedAfterMs).toBeLessThan(fastMs);
    for (const outcome of settled) {
      expect(outcome.status).toBe("rejected");
      const err = (outcome as PromiseRejectedResult).reason;
      expect(err).toBeInstanceOf(PublishError);
      expect(err).toMatchObject({ reason: "disconnected", message: "NATS connection lost before the PubAck" });
    }

    const refused = await failureOf(stream.publish(events(1), "while-down"));
    expect(refused.err).toMatchObject({
      name: "PublishError",
      reason: "disconnected",
      message: "not connected to NATS",
    });
    expect(refused.elapsedMs).toBeLessThan(fastMs);

    await nats.restart();
    await waitFor("a publish to be acknowledged again", () => stream.publish(events(1), "after").then(() => true), {
      timeoutMs: 20_000,
    });
    // The same ids again, as a client retrying its 503 sends them: the duplicate window (rebuilt by the
    // restarted server from the stored messages) absorbs the copy.
    const jsm = await nc.jetstreamManager();
    const before = (await jsm.streams.info(names.eventsStream)).state.messages;
    await stream.publish(
      stored.map((event) => ({ ...event, received_at: new Date().toISOString() })),
      "retry",
    );
    expect((await jsm.streams.info(names.eventsStream)).state.messages).toBe(before);
  });
});

describe("the JetStream publisher on an answer it cannot take", () => {
  it("rejects at once when no stream captures the subject (no responders, as while a stream elects its leader)", async () => {
    const publisher = publisherOn(`nobody.${uniqueId("")}`);
    const { err, elapsedMs } = await failureOf(publisher.publish(events(1), "no-responders"));
    expect(err).toMatchObject({ name: "PublishError", reason: "no_responders", message: "JetStream: 503 " });
    expect(elapsedMs).toBeLessThan(fastMs);
  });

  it("rejects at once on a JetStream error PubAck, such as a stream leader's 503 'raft: not leader'", async () => {
    const subject = `answering.${uniqueId("")}`;
    const responder = await connect({ servers: nats.url });
    closers.push(() => responder.close());
    // What nats-server 2.9 answers when its raft proposal fails because the stream lost its leader.
    const answer = JSON.stringify({ error: { code: 503, description: "raft: not leader" }, stream: "EVENTS" });
    responder.subscribe(subject, { callback: (_err, msg) => msg.respond(new TextEncoder().encode(answer)) });
    await responder.flush();
    const publisher = publisherOn(subject);
    const { err, elapsedMs } = await failureOf(publisher.publish(events(1), "not-leader"));
    expect(err).toMatchObject({ name: "PublishError", reason: "refused", message: "JetStream: 503 raft: not leader" });
    expect(elapsedMs).toBeLessThan(fastMs);
  });

  it("still fails a publish nobody answers after its timeout", async () => {
    const silent = `silent.${uniqueId("")}`;
    // It takes the message and never answers.
    await silentSubscriber(silent);
    const publisher = publisherOn(silent, 300);
    const { err, elapsedMs } = await failureOf(publisher.publish(events(1), "unanswered"));
    expect(err).toMatchObject({ name: "PublishError", reason: "timeout", message: "no PubAck within 300 ms" });
    expect(elapsedMs).toBeGreaterThanOrEqual(290);
  });
});

describe("the JetStream publisher when closed", () => {
  it("rejects at once every publish awaiting its PubAck or not yet sent, sends none of the latter, and refuses later ones", async () => {
    const silent = `silent.${uniqueId("")}`;
    const listener = await silentSubscriber(silent);
    const publisher = publisherOn(silent);
    const closedError = { name: "PublishError", reason: "disconnected", message: "the publisher is closed" };
    const awaiting = Array.from({ length: 5 }, () => publisher.publish(events(1), "awaiting"));
    const outcomes = Promise.allSettled(awaiting);
    await waitFor("the publishes to reach the server", () => listener.received() === awaiting.length);

    // Queued for the next socket write, which close() comes before.
    const unsent = failureOf(publisher.publish(events(1), "unsent"));
    const closedAt = performance.now();
    publisher.close();
    const settled = await outcomes;
    expect(performance.now() - closedAt).toBeLessThan(fastMs);
    expect(settled.map((outcome) => outcome.status)).toEqual(awaiting.map(() => "rejected"));
    for (const outcome of settled) expect((outcome as PromiseRejectedResult).reason).toMatchObject(closedError);
    expect((await unsent).err).toMatchObject(closedError);
    const later = await failureOf(publisher.publish(events(1), "later"));
    expect(later.err).toMatchObject(closedError);
    expect(later.elapsedMs).toBeLessThan(fastMs);

    await nc.flush();
    await listener.flush();
    expect(listener.received()).toBe(awaiting.length);
  });
});
