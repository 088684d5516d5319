import { createDb } from "@evpipe/db";
import {
  type ApiKeyRecord,
  defaultEventLimits,
  type EnvelopeEvent,
  generateApiKey,
  KeyRing,
  KeyUsage,
  type Scope,
} from "@evpipe/shared";
import { pino } from "pino";
import { createApp, type GatewayDeps } from "../app.ts";

export interface PublishedMessage {
  events: EnvelopeEvent[];
  requestId: string;
}

/**
 * createApp with real keys (made by the same factory as `pnpm ops keys create`) and a publisher that records
 * what JetStream would have been sent. Integration tests in tests/ use the real JetStream.
 */
export function createTestGateway(overrides: Partial<GatewayDeps> = {}) {
  const keys = new KeyRing();
  const usage = new KeyUsage();
  const records = new Map<string, ApiKeyRecord>();
  const published: PublishedMessage[] = [];
  let publishFailure: Error | undefined;
  const app = createApp({
    log: pino({ level: "silent" }),
    // Lazy: unit tests never reach the database; tests/ gives a real one.
    db: createDb({
      url: "postgres://postgres@127.0.0.1:1/unit-tests-use-no-database",
      maxConnections: 1,
      applicationName: "unit",
    }),
    keys,
    usage,
    limits: defaultEventLimits,
    publisher: {
      async publish(events, requestId) {
        if (publishFailure) throw publishFailure;
        published.push({ events: structuredClone([...events]), requestId });
      },
    },
    readiness: async () => ({ ready: true, checks: { nats: true, streams: true } }),
    ...overrides,
  });
  return {
    app,
    keys,
    usage,
    published,
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
