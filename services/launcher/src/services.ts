import path from "node:path";
import type { ProcessSpec } from "./supervisor.ts";

const root = path.resolve(import.meta.dirname, "..", "..", "..");

export const nodeScript = (name: string, file: string): ProcessSpec => ({
  name,
  command: process.execPath,
  args: [path.join(root, file)],
});

/**
 * The long-running services `pnpm start` runs, and what it should say about them. Destinations need
 * DESTINATION_SECRETS_KEY (ops seals their credentials with it, the forwarder opens them): without it here the
 * system runs without a forwarder rather than not at all, and says so, since destinations added from another
 * shell with the key would otherwise wait unforwarded in silence.
 */
export function servicesToStart(env: NodeJS.ProcessEnv): { services: ProcessSpec[]; notice?: string } {
  const services = [
    nodeScript("gateway", "services/gateway/src/main.ts"),
    nodeScript("consumer", "services/consumer/src/main.ts"),
  ];
  if (!env.DESTINATION_SECRETS_KEY) {
    return { services, notice: "no DESTINATION_SECRETS_KEY, so no forwarder: destinations are not forwarded" };
  }
  // The consumer and the forwarder both serve HEALTH_PORT; side by side here, the forwarder takes its own.
  const healthPort = env.FORWARDER_HEALTH_PORT ?? (env.HEALTH_PORT === "0" ? "0" : "8082");
  const forwarder = nodeScript("forwarder", "services/forwarder/src/main.ts");
  return { services: [...services, { ...forwarder, env: { HEALTH_PORT: healthPort } }] };
}
