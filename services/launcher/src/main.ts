import { nodeScript, servicesToStart } from "./services.ts";
import { createSupervisor, describeFate } from "./supervisor.ts";

// `pnpm start`: the database and its migrations, then the gateway, the consumer and the forwarder, as one
// process tree of plain `node` processes under this one.
const supervisor = createSupervisor({
  env: process.env,
  say: (line) => process.stderr.write(`start: ${line}\n`),
});
process.on("SIGINT", () => supervisor.signal("SIGINT"));
process.on("SIGTERM", () => supervisor.signal("SIGTERM"));
// The terminal closed: the children, in process groups of their own, did not hear it.
process.on("SIGHUP", () => supervisor.signal("SIGTERM"));
process.on("exit", () => supervisor.killAll());

async function main(): Promise<number> {
  const migrated = await supervisor.runOnce(nodeScript("migrate", "db/src/migrate-main.ts"));
  if (supervisor.stopSignal) {
    // Stopped before the services started: quietly, unless the migration itself failed.
    return migrated.code === 0 || migrated.signal === supervisor.stopSignal ? 0 : 1;
  }
  if (migrated.code !== 0) {
    // migrate says itself, in one line, what went wrong; only a death by signal needs saying here.
    if (migrated.signal) process.stderr.write(`start: migrate ${describeFate(migrated)}\n`);
    return migrated.code ?? 1;
  }
  const { services, notice } = servicesToStart(process.env);
  if (notice) process.stderr.write(`start: ${notice}\n`);
  return supervisor.runServices(services);
}

process.exitCode = await main();
