import {
  type ApiKeyRecord,
  createEnvelopeSchema,
  decodeEnvelope,
  defaultEventLimits,
  type EnvelopeEvent,
  encodeEnvelope,
  generateApiKey,
  KeyRing,
  KeyUsage,
  type Scope,
} from "@evpipe/shared";
import { pino } from "pino";
import { createApp, type GatewayDeps } from "../app.ts";
import { meteredPublisher } from "../metrics.ts";
import type { EventPublisher } from "../publisher.ts";
import { pipelineAnswering } from "./pipeline-double.ts";
import { eventReadsOf, statsAnswering } from "./read-doubles.ts";

export interface PublishedMessage {
  events: EnvelopeEvent[];
  requestId: string;
}

/** One call a route made through EventReads or StatsQueries. */
export interface ReadCall {
  method: string;
  args: unknown[];
}

/** `target` with every method call appended to `calls`, so a test can say what was read, or that nothing was. */
function recorded<T extends object>(target: T, calls: ReadCall[]): T {
  return new Proxy(target, {
    get(object, name, receiver) {
      const value: unknown = Reflect.get(object, name, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push({ method: String(name), args });
        return value.apply(object, args);
      };
    },
  });
}

/**
 * createApp with real keys (made by the same factory as `pnpm ops keys create`), a publisher that records
 * what JetStream would have been sent, and reads (an empty store and a fixed pipeline summary unless given)
 * that record every call.
 * Given `metrics`, the publisher is metered as main.ts meters the JetStream one.
 * Integration tests in tests/ use the real JetStream and PostgreSQL.
 */
export function createTestGateway(overrides: Partial<GatewayDeps> = {}) {
  const {
    eventReads = eventReadsOf([]),
    stats = statsAnswering(),
    pipeline = pipelineAnswering(),
    publisher,
    ...rest
  } = overrides;
  const keys = new KeyRing();
  const usage = new KeyUsage();
  const records = new Map<string, ApiKeyRecord>();
  const published: PublishedMessage[] = [];
  const reads: ReadCall[] = [];
  let publishFailure: Error | undefined;
  // The consumer's reading of the wire format, with the limits this gateway runs with.
  const envelopeSchema = createEnvelopeSchema(rest.limits ?? defaultEventLimits);
  const basePublisher: EventPublisher = publisher ?? {
    async publish(events, requestId) {
      if (publishFailure) throw publishFailure;
      published.push({ events: decodeEnvelope(envelopeSchema, encodeEnvelope(events)), requestId });
      return { newEvents: events.length };
    },
  };
  const app = createApp({
    log: pino({ level: "silent" }),
    eventReads: recorded(eventReads, reads),
    stats: recorded(stats, reads),
    pipeline: recorded(pipeline, reads),
    keys,
    usage,
    limits: defaultEventLimits,
    readiness: async () => ({ ready: true, checks: { nats: true, streams: true } }),
    ...rest,
    publisher: rest.metrics ? meteredPublisher(basePublisher, rest.metrics) : basePublisher,
  });
  return {
    app,
    keys,
    usage,
    published,
    reads,
    failPublishesWith(err: Error | undefined) {
      publishFailure = err;
    },
    issueKey(scopes: Scope[], limits: { rate?: number; burst?: number } = {}) {
      const { key, record } = generateApiKey({ name: "test", scopes, ...limits });
      keys.put(record);
      records.set(record.id, record);
      return { key, id: record.id };
    },
    revoke(id: string) {
      const record = records.get(id);
      if (!record) throw new Error(`no test key ${id}`);
      keys.put({ ...record, revoked_at: new Date().toISOString() });
    },
  };
}
