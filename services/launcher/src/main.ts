import path from "node:path";
import { createSupervisor, describeFate, type ProcessSpec } from "./supervisor.ts";

// `pnpm start`: the database and its migrations, then the gateway, the consumer and the forwarder, as one
// process tree of plain `node` processes under this one.
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

const forwarder = nodeScript("forwarder", "services/forwarder/src/main.ts");

// The consumer and the forwarder both serve HEALTH_PORT; side by side here, the forwarder takes its own.
const forwarderHealthPort = () => process.env.FORWARDER_HEALTH_PORT ?? (process.env.HEALTH_PORT === "0" ? "0" : "8082");

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
  const services = [
    nodeScript("gateway", "services/gateway/src/main.ts"),
    nodeScript("consumer", "services/consumer/src/main.ts"),
  ];
  // Destinations need DESTINATION_SECRETS_KEY (ops seals their credentials with it, the forwarder opens them):
  // without it here the system runs without a forwarder rather than not at all, and says so, since destinations
  // added from another shell with the key would otherwise wait unforwarded in silence.
  if (process.env.DESTINATION_SECRETS_KEY) services.push({ ...forwarder, env: { HEALTH_PORT: forwarderHealthPort() } });
  else process.stderr.write("start: no DESTINATION_SECRETS_KEY, so no forwarder: destinations are not forwarded\n");
  return supervisor.runServices(services);
}

process.exitCode = await main();
