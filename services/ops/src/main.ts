import { createDb, type Database } from "@evpipe/db";
import {
  createLogger,
  databaseUrlVar,
  defaultStreamSettings,
  destinationNames,
  isNotFound,
  logLevelVar,
  type NatsAuth,
  namespaceVar,
  natsAuthEnv,
  natsAuthFrom,
  natsNames,
  natsUrlVar,
  openDestinationStatusBucket,
  openDestinationsBucket,
  openKeysBucket,
  openKeyUsageBucket,
  parseEnv,
  streamConfigs,
  streamSettingsEnv,
  streamSettingsFrom,
} from "@evpipe/shared";
import { type Kysely, sql } from "kysely";
import type { NatsConnection } from "nats";
import { pino } from "pino";
import * as v from "valibot";
import { CliError, reportCliFailure, usageExit } from "./cli-error.ts";
import { type DestinationsContext, destinationsCommand, destinationsUsage } from "./destinations/command.ts";
import { type DlqContext, type DlqTarget, dlqCommand, dlqUsage } from "./dlq/command.ts";
import { keysCommand, keysUsage } from "./keys.ts";
import { natsConfigCommand, natsConfigUsage } from "./nats-config.ts";
import { connectOnce, permissionRefusal } from "./nats-connect.ts";
import { provisionCommand, provisionUsage } from "./provision.ts";
import { rollupsCommand, rollupsUsage } from "./rollups.ts";

const groupUsage: Record<string, string> = {
  keys: keysUsage,
  dlq: dlqUsage,
  rollups: rollupsUsage,
  destinations: destinationsUsage,
  "nats-config": natsConfigUsage,
  provision: provisionUsage,
};
const usage = `usage:\n${Object.values(groupUsage).join("\n")}`;

/** The usage asked for with --help, -h or `help` anywhere on the line: the group's when one is named. */
function helpAsked(argv: string[]): string | undefined {
  if (!argv.some((arg) => arg === "--help" || arg === "-h") && argv[0] !== "help") return undefined;
  const group = argv.find((arg) => Object.hasOwn(groupUsage, arg));
  return `usage:\n${group ? groupUsage[group] : usage.slice("usage:\n".length)}`;
}

const opsEnv = {
  NATS_URL: natsUrlVar,
  ...natsAuthEnv,
  DATABASE_URL: databaseUrlVar,
  NATS_NAMESPACE: namespaceVar,
  LOG_LEVEL: logLevelVar,
  // The settings the forwarder is given, when set here too: used only for destination streams ops creates.
  ...streamSettingsEnv,
  // Test seam for the replay-interrupted-before-delete test; unset in production.
  OPS_FAULT_INJECTION: v.optional(v.picklist(["crash-after-republish"], "must be crash-after-republish")),
};
type OpsEnv = v.InferOutput<v.ObjectSchema<typeof opsEnv, undefined>>;

const print = (line: string) => process.stdout.write(`${line}\n`);
// A reader that stops early (`pnpm ops nats-config | head`) closes the pipe: the output is done, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
  process.exit(0);
});

/** The one NATS connection, made when a command first needs it, and the contexts the commands build on it. */
function natsClients(env: OpsEnv, auth: NatsAuth | undefined) {
  const names = natsNames(env.NATS_NAMESPACE);
  let nc: NatsConnection | undefined;
  const connection = async () => {
    nc ??= await connectOnce(env.NATS_URL, auth, "evpipe-ops");
    return nc;
  };

  const dlqContext = async (target: DlqTarget): Promise<DlqContext> => {
    const jsm = await (await connection()).jetstreamManager();
    await jsm.streams.info(target.stream).catch((err: unknown) => {
      if (isNotFound(err))
        throw new CliError(`no dead-letter stream ${target.stream}: has the consumer ever run here?`);
      throw err;
    });
    // The audit stream may predate this CLI's deployment: create it when missing (only it).
    const audit = streamConfigs(names, defaultStreamSettings).find((config) => config.name === names.dlqAuditStream);
    if (audit) await jsm.streams.add(audit).catch(() => undefined);
    return {
      js: (await connection()).jetstream(),
      jsm,
      target,
      // Logs go to stderr; stdout is the command's output.
      log: createLogger({ service: "ops", level: env.LOG_LEVEL }, pino.destination(2)),
      print,
      interactive: Boolean(process.stderr.isTTY),
      ...(env.OPS_FAULT_INJECTION === "crash-after-republish"
        ? { afterRepublish: () => process.kill(process.pid, "SIGKILL") }
        : {}),
    };
  };

  const destinationsContext = async (): Promise<DestinationsContext> => {
    const js = (await connection()).jetstream();
    const destinations = destinationNames(env.NATS_NAMESPACE);
    return {
      js,
      jsm: await js.jetstreamManager(),
      names: destinations,
      natsNames: names,
      destinations: await openDestinationsBucket(js, destinations),
      status: await openDestinationStatusBucket(js, destinations),
      streamSettings: streamSettingsFrom(env),
      dlq: dlqContext,
    };
  };

  return {
    names,
    connection,
    // The writer's dead letters, replayed to events.ingest.
    writerDlq: () =>
      dlqContext({
        stream: names.dlqStream,
        replaySubject: names.eventsSubject,
        auditStream: names.dlqAuditStream,
        auditSubject: names.dlqAuditSubject,
      }),
    destinationsContext,
    drain: async () => nc?.drain(),
  };
}

async function main(argv: string[]): Promise<void> {
  const help = helpAsked(argv);
  if (help) {
    process.stdout.write(`${help}\n`);
    return;
  }
  const env = parseEnv(opsEnv, process.env);
  let db: Kysely<Database> | undefined;
  const nats = natsClients(env, natsAuthFrom(env));
  try {
    const [group, ...rest] = argv;
    switch (group) {
      case "keys":
        await keysCommand(
          rest,
          {
            keys: async () => openKeysBucket((await nats.connection()).jetstream(), nats.names.keysBucket),
            usage: async () => openKeyUsageBucket((await nats.connection()).jetstream(), nats.names.keyUsageBucket),
          },
          print,
        );
        break;
      case "dlq":
        await dlqCommand(rest, nats.writerDlq);
        break;
      case "destinations":
        await destinationsCommand(rest, {
          secretsKey: process.env.DESTINATION_SECRETS_KEY,
          connect: nats.destinationsContext,
          print,
        });
        break;
      case "nats-config":
        natsConfigCommand(rest, env.NATS_NAMESPACE, print);
        break;
      case "provision":
        await provisionCommand(
          rest,
          {
            connection: nats.connection,
            names: nats.names,
            destinations: destinationNames(env.NATS_NAMESPACE),
            settings: streamSettingsFrom(env),
            log: createLogger({ service: "ops", level: env.LOG_LEVEL }, pino.destination(2)),
          },
          print,
        );
        break;
      case "rollups":
        await rollupsCommand(
          rest,
          async () => {
            db ??= createDb({ url: env.DATABASE_URL, maxConnections: 1, applicationName: "evpipe-ops" });
            await sql`SELECT 1`.execute(db).catch((err: unknown) => {
              throw new CliError(`cannot reach PostgreSQL: ${(err as Error).message}`);
            });
            return db;
          },
          print,
        );
        break;
      default:
        throw new CliError(usage, usageExit);
    }
  } finally {
    await nats.drain();
    await db?.destroy();
  }
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  const refusal = permissionRefusal(err);
  if (refusal) {
    process.stderr.write(`ops: ${refusal}\n`);
    process.exitCode = 1;
  } else if (!reportCliFailure("ops", err)) {
    process.stderr.write(`ops: unexpected error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
