import type { Scope } from "@evpipe/shared";
import { afterAll, beforeAll } from "vitest";
import { createTestPipeline, type TestPipeline } from "./pipeline.ts";
import { startPostgresServer, type ThrowawayPostgres } from "./postgres-server.ts";
import { type RunningService, startNatsServer, startService, type ThrowawayNats } from "./processes.ts";

export interface PipelineServicesOptions {
  /** The API key the file's requests carry: `ingest` unless other scopes are given. */
  key?: { scopes?: Scope[]; name?: string; limits?: { rate?: number; burst?: number } };
  /** The gateway's environment over the pipeline's own. */
  gatewayEnv?: Record<string, string>;
  /** The consumer's environment over the pipeline's own; `false` starts no consumer. */
  consumerEnv?: Record<string, string> | false;
  /** A NATS server or PostgreSQL cluster of the file's own, for tests that stop it. */
  privateServer?: "nats" | "postgres";
  /** Runs once the pipeline exists, before the key is made and the services start (a poison trigger, say). */
  prepare?: (pipeline: TestPipeline) => Promise<void>;
}

/** What usePipelineServices started for the file; each part can be read once its beforeAll has run. */
export interface PipelineServices {
  readonly pipeline: TestPipeline;
  readonly gateway: RunningService;
  /** A test that replaces the consumer process assigns the new one here, so the teardown stops that one. */
  consumer: RunningService;
  readonly key: string;
  readonly keyId: string;
  readonly nats: ThrowawayNats;
  readonly postgres: ThrowawayPostgres;
}

function present<T>(what: string, value: T | undefined): T {
  if (value === undefined) {
    throw new Error(`${what} is not there: usePipelineServices makes it in beforeAll, and only when asked for`);
  }
  return value;
}

/**
 * One test file's pipeline with a key and a running gateway and consumer: made in beforeAll, stopped and removed
 * in afterAll. A private server left down by a test is brought back up first, so the pipeline can be removed.
 */
export function usePipelineServices(options: PipelineServicesOptions = {}): PipelineServices {
  const { key: keyOptions = {}, consumerEnv = {} } = options;
  let nats: ThrowawayNats | undefined;
  let postgres: ThrowawayPostgres | undefined;
  let pipeline: TestPipeline | undefined;
  let key: { id: string; key: string } | undefined;
  let gateway: RunningService | undefined;
  let consumer: RunningService | undefined;

  beforeAll(async () => {
    if (options.privateServer === "nats") nats = await startNatsServer();
    if (options.privateServer === "postgres") postgres = await startPostgresServer();
    pipeline = await createTestPipeline({ natsUrl: nats?.url, databaseUrl: postgres?.url });
    await options.prepare?.(pipeline);
    key = await pipeline.createKey(keyOptions.scopes ?? ["ingest"], keyOptions.name, keyOptions.limits);
    [gateway, consumer] = await Promise.all([
      startService("gateway", pipeline.serviceEnv(options.gatewayEnv)),
      consumerEnv === false ? undefined : startService("consumer", pipeline.serviceEnv(consumerEnv)),
    ]);
  });

  afterAll(async () => {
    await Promise.all([gateway?.stop(), consumer?.stop()]);
    await nats?.restart().catch(() => undefined);
    try {
      postgres?.start();
    } catch {
      // already running
    }
    await pipeline?.cleanup();
    await nats?.cleanup();
    postgres?.cleanup();
  });

  return {
    get pipeline() {
      return present("the pipeline", pipeline);
    },
    get gateway() {
      return present("the gateway", gateway);
    },
    get consumer() {
      return present("the consumer", consumer);
    },
    set consumer(replacement) {
      consumer = replacement;
    },
    get key() {
      return present("the key", key).key;
    },
    get keyId() {
      return present("the key", key).id;
    },
    get nats() {
      return present("the private NATS server", nats);
    },
    get postgres() {
      return present("the private PostgreSQL cluster", postgres);
    },
  };
}
