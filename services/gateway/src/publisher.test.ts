import { headers } from "nats";
import { describe, expect, it } from "vitest";
import { PublishError, readPubAck } from "./publisher.ts";

const reply = (body: unknown) => ({ headers: undefined, data: new TextEncoder().encode(JSON.stringify(body)) });

describe("readPubAck", () => {
  it("tells a message stored now from one JetStream already held (a retry within the duplicate window)", () => {
    expect(readPubAck(reply({ stream: "EVENTS", seq: 7 }))).toEqual({ duplicate: false });
    expect(readPubAck(reply({ stream: "EVENTS", seq: 7, duplicate: true }))).toEqual({ duplicate: true });
  });

  it("reads an error answer as a PublishError with its reason", () => {
    const full = readPubAck(reply({ error: { code: 503, err_code: 10077, description: "maximum messages exceeded" } }));
    expect(full).toBeInstanceOf(PublishError);
    expect(full).toMatchObject({ reason: "refused", message: "JetStream: 10077 maximum messages exceeded" });
    const noResponders = readPubAck({ headers: headers(503, "No Responders"), data: new Uint8Array() });
    expect(noResponders).toMatchObject({ reason: "no_responders" });
  });
});
