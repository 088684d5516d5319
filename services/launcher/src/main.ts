import path from "node:path";
import { createSupervisor, describeFate, type ProcessSpec } from "./supervisor.ts";

// `pnpm start`: the database and its migrations, then the gateway and the consumer, as one process tree of
// plain `node` processes under this one.
const root = path.resolve(import.meta.dirname, "..", "..", "..");
const nodeScript = (name: string, file: string): ProcessSpec => ({
  name,
  command: process.execPath,
  args: [path.join(root, file)],
});

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
  return supervisor.runServices([
    nodeScript("gateway", "services/gateway/src/main.ts"),
    nodeScript("consumer", "services/consumer/src/main.ts"),
  ]);
}

process.exitCode = await main();
