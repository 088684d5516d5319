import type { TestProject } from "vitest/node";
import { tcpReachable } from "./services-reachable.ts";

declare module "vitest" {
  export interface ProvidedContext {
    natsUrl: string;
    databaseUrl: string;
  }
}

/**
 * Uses the machine's NATS and PostgreSQL (or NATS_URL / DATABASE_URL) when reachable; otherwise starts
 * them with testcontainers, which needs a Docker engine.
 */
export default async function setup(project: TestProject) {
  let natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
  let databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const stops: Array<() => Promise<unknown>> = [];
  const [natsUp, postgresUp] = await Promise.all([tcpReachable(natsUrl), tcpReachable(databaseUrl)]);
  if (!natsUp || !postgresUp) {
    const { GenericContainer, Wait } = await import("testcontainers");
    if (!natsUp) {
      const nats = await new GenericContainer("nats:2.9.10-alpine").withCommand(["-js"]).withExposedPorts(4222).start();
      natsUrl = `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`;
      stops.push(() => nats.stop());
    }
    if (!postgresUp) {
      const postgres = await new GenericContainer("postgres:15")
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: "trust" })
        .withExposedPorts(5432)
        .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2))
        .start();
      databaseUrl = `postgres://postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/postgres`;
      stops.push(() => postgres.stop());
    }
  }
  project.provide("natsUrl", natsUrl);
  project.provide("databaseUrl", databaseUrl);
  return async () => {
    for (const stop of stops) await stop();
  };
}
