import { createDb, type Database } from "@evpipe/db";
import {
  createLogger,
  databaseUrlVar,
  defaultStreamSettings,
  isNotFound,
  logLevelVar,
  namespaceVar,
  natsNames,
  natsUrlVar,
  openKeysBucket,
  openKeyUsageBucket,
  parseEnv,
  streamConfigs,
} from "@evpipe/shared";
import { type Kysely, sql } from "kysely";
import { connect, type NatsConnection } from "nats";
import { pino } from "pino";
import * as v from "valibot";
import { CliError, reportCliFailure, usageExit } from "./cli-error.ts";
import { type DlqContext, dlqCommand, dlqUsage } from "./dlq/command.ts";
import { keysCommand, keysUsage } from "./keys.ts";
import { rollupsCommand, rollupsUsage } from "./rollups.ts";

const usage = `usage:\n${keysUsage}\n${dlqUsage}\n${rollupsUsage}`;
const groupUsage: Record<string, string> = { keys: keysUsage, dlq: dlqUsage, rollups: rollupsUsage };

/** The usage asked for with --help, -h or `help` anywhere on the line: the group's when one is named. */
function helpAsked(argv: string[]): string | undefined {
  if (!argv.some((arg) => arg === "--help" || arg === "-h") && argv[0] !== "help") return undefined;
  const group = argv.find((arg) => Object.hasOwn(groupUsage, arg));
  return `usage:\n${group ? groupUsage[group] : usage.slice("usage:\n".length)}`;
}

async function main(argv: string[]): Promise<void> {
  const help = helpAsked(argv);
  if (help) {
    process.stdout.write(`${help}\n`);
    return;
  }
  const env = parseEnv(
    {
      NATS_URL: natsUrlVar,
      DATABASE_URL: databaseUrlVar,
      NATS_NAMESPACE: namespaceVar,
      LOG_LEVEL: logLevelVar,
      // Test seam for the replay-interrupted-before-delete test; unset in production.
      OPS_FAULT_INJECTION: v.optional(v.picklist(["crash-after-republish"], "must be crash-after-republish")),
    },
    process.env,
  );
  let db: Kysely<Database> | undefined;
  const names = natsNames(env.NATS_NAMESPACE);
  let nc: NatsConnection | undefined;
  const natsConnection = async () => {
    try {
      nc ??= await connect({ servers: env.NATS_URL, name: "evpipe-ops", timeout: 3000 });
    } catch (err) {
      throw new CliError(`cannot reach NATS at ${env.NATS_URL}: ${(err as Error).message}`);
    }
    return nc;
  };
  const print = (line: string) => process.stdout.write(`${line}\n`);

  const dlqContext = async (): Promise<DlqContext> => {
    const connection = await natsConnection();
    const jsm = await connection.jetstreamManager();
    await jsm.streams.info(names.dlqStream).catch((err: unknown) => {
      if (isNotFound(err))
        throw new CliError(`no dead-letter stream ${names.dlqStream}: has the consumer ever run here?`);
      throw err;
    });
    // The audit stream may predate this CLI's deployment: create it when missing (only it).
    const audit = streamConfigs(names, defaultStreamSettings).find((config) => config.name === names.dlqAuditStream);
    if (audit) await jsm.streams.add(audit).catch(() => undefined);
    return {
      js: connection.jetstream(),
      jsm,
      names,
      // Logs go to stderr; stdout is the command's output.
      log: createLogger({ service: "ops", level: env.LOG_LEVEL }, pino.destination(2)),
      print,
      interactive: Boolean(process.stderr.isTTY),
      ...(env.OPS_FAULT_INJECTION === "crash-after-republish"
        ? { afterRepublish: () => process.kill(process.pid, "SIGKILL") }
        : {}),
    };
  };

  try {
    const [group, ...rest] = argv;
    switch (group) {
      case "keys":
        await keysCommand(
          rest,
          {
            keys: async () => openKeysBucket((await natsConnection()).jetstream(), names.keysBucket),
            usage: async () => openKeyUsageBucket((await natsConnection()).jetstream(), names.keyUsageBucket),
          },
          print,
        );
        break;
      case "dlq":
        await dlqCommand(rest, dlqContext);
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
    await nc?.drain();
    await db?.destroy();
  }
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  if (!reportCliFailure("ops", err)) {
    process.stderr.write(`ops: unexpected error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
