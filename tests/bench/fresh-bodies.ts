import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { sampleEvent } from "./workload.ts";

/**
 * Request bodies that are new on every call, so no request repeats another's events: a Segment messageId
 * sent twice is one event (a UUIDv5 of it), and so is one of our event ids. Built by the load generator per
 * request; what that costs shows in the bench's own CPU group, not in the gateway's.
 */
export interface BodySource {
  /** What this source sends, for the report. */
  label: string;
  next(): string | Buffer;
  /** Bodies made so far and their bytes as sent (compressed, for gzip). */
  made(): { bodies: number; bytes: number };
}

/** What a slot of a template is filled with on each request. */
type Slot = "id" | "time" | "now";

/** A body's fixed text with slots between its parts: `parts[i]`, slot i, `parts[i + 1]`... */
class Template {
  readonly parts: string[] = [""];
  readonly slots: Slot[] = [];

  text(text: string): this {
    this.parts[this.parts.length - 1] += text;
    return this;
  }

  slot(slot: Slot): this {
    this.slots.push(slot);
    this.parts.push("");
    return this;
  }
}

function source(label: string, template: Template, id: (nowMs: number) => string, gzip: boolean): BodySource {
  const { parts, slots } = template;
  let bodies = 0;
  let bytes = 0;
  return {
    label,
    next() {
      const nowMs = Date.now();
      const now = new Date(nowMs).toISOString();
      // A couple of seconds in the past, like an SDK's queued calls: every rule keeps such a client time.
      const time = new Date(nowMs - 2000).toISOString();
      let text = parts[0] as string;
      slots.forEach((slot, index) => {
        text += `${slot === "id" ? id(nowMs) : slot === "time" ? time : now}${parts[index + 1]}`;
      });
      const body = gzip ? gzipSync(text) : text;
      bodies++;
      bytes += typeof body === "string" ? Buffer.byteLength(body) : body.length;
      return body;
    },
    made: () => ({ bodies, bytes }),
  };
}

/** Our batch route's body: the events of batchBody, each with a fresh random UUID `id` and a `client_ts`. */
function ownBodies(label: string, size: number, metadataOf: (metadata: unknown) => string): BodySource {
  const template = new Template().text('{"events":[');
  for (let index = 0; index < size; index++) {
    const { event, user_id, metadata } = sampleEvent(index);
    template
      .text(`${index === 0 ? "" : ","}{"id":"`)
      .slot("id")
      .text(`","event":${JSON.stringify(event)},"user_id":${JSON.stringify(user_id)},"client_ts":"`)
      .slot("time")
      .text(`","metadata":${metadataOf(metadata)}}`);
  }
  return source(label, template.text("]}"), () => randomUUID(), false);
}

/**
 * Our batch route's body with the events of batchBody (name, user, metadata), each with its own random UUID
 * as `id` and a `client_ts`, as a producer that retries by id sends them.
 */
export function ownBatchBodies(size: number): BodySource {
  return ownBodies("own batch", size, (metadata) => JSON.stringify(metadata));
}

/** What an analytics-node message carries beyond the fields of our events and its properties. */
const segmentLibrary = '{"library":{"name":"@segment/analytics-node","version":"3.1.0"}}';
const segmentMetadata = `{"nodeVersion":"${process.version}","jsRuntime":"node"}`;

/**
 * Our batch route's body with the events of segmentBatchBodies, as bytes per event within a few percent of
 * them: our fields carry what Segment's messageId, event, userId and timestamp do, and `metadata` the rest of
 * the message (type, properties, context, integrations, _metadata). The Segment route's cost beyond this one's
 * is its own work, not the size of what it reads.
 */
export function ownSegmentSizedBodies(size: number): BodySource {
  return ownBodies(
    "own batch, Segment-sized",
    size,
    (metadata) =>
      `{"type":"track","properties":${JSON.stringify(metadata)},` +
      `"context":${segmentLibrary},"integrations":{},"_metadata":${segmentMetadata}}`,
  );
}

/**
 * The Segment batch as @segment/analytics-node 3.1 sends it (its field order, context, integrations and
 * _metadata, the writeKey in the body too), with the events of batchBody as track calls whose properties
 * are the metadata of ours, and a messageId `node-next-<ms>-<uuid>` per message.
 */
export function segmentBatchBodies(size: number, writeKey: string, gzip: boolean): BodySource {
  const template = new Template().text('{"batch":[');
  for (let index = 0; index < size; index++) {
    const { event, user_id, metadata } = sampleEvent(index);
    template
      .text(`${index === 0 ? "" : ","}{"timestamp":"`)
      .slot("time")
      .text(`","integrations":{},"event":${JSON.stringify(event)},"type":"track",`)
      .text(`"properties":${JSON.stringify(metadata)},`)
      .text(`"context":${segmentLibrary},`)
      .text(`"userId":${JSON.stringify(user_id)},"messageId":"`)
      .slot("id")
      .text(`","_metadata":${segmentMetadata}}`);
  }
  template
    .text(`],"writeKey":${JSON.stringify(writeKey)},"sentAt":"`)
    .slot("now")
    .text('"}');
  const messageId = (nowMs: number) => `node-next-${nowMs}-${randomUUID()}`;
  return source(gzip ? "segment gzip" : "segment", template, messageId, gzip);
}
