import { parseArgs } from "node:util";
import {
  type NatsRole,
  natsAccountName,
  natsPasswordVariable,
  natsPermissions,
  natsRoles,
  natsServerAccounts,
  natsUserName,
} from "@evpipe/shared";
import { CliError, usageExit } from "./cli-error.ts";

export const natsConfigUsage = "pnpm ops nats-config [--nkey ROLE=PUBLIC_NKEY]... [--json]";

const publicUserNkey = /^U[A-Z2-7]{55}$/;

function parseNkeys(values: readonly string[]): Map<NatsRole, string> {
  const nkeys = new Map<NatsRole, string>();
  for (const value of values) {
    const [role, nkey = ""] = value.split("=", 2);
    if (!(natsRoles as readonly string[]).includes(role ?? "")) {
      throw new CliError(`--nkey ${role}=...: the role must be one of ${natsRoles.join(", ")}`, usageExit);
    }
    // A public key is no secret, but a seed (SU...) pasted by mistake is: never echo the value.
    if (!publicUserNkey.test(nkey)) {
      throw new CliError(`--nkey ${role}=...: must be a user's public nkey (U followed by 55 characters)`, usageExit);
    }
    nkeys.set(role as NatsRole, nkey);
  }
  return nkeys;
}

function header(namespace: string | undefined, passwordRoles: readonly NatsRole[]): string[] {
  const scope = namespace ? ` (namespace ${namespace})` : "";
  const lines = [
    `# evpipe's NATS account ${natsAccountName(namespace)} and its users${scope}, from \`pnpm ops nats-config\`:`,
    "# put this block in nats-server.conf, beside `jetstream {}`; its streams are seen by no other account.",
  ];
  if (passwordRoles.length === 0) return lines;
  return [
    ...lines,
    "# nats-server reads each password from its own environment (plain, or a bcrypt hash from `nats server passwd`):",
    ...passwordRoles.map((role) => `#   ${natsPasswordVariable(role, namespace)}`),
    "# Each service then connects with NATS_USER=<its user> and NATS_PASSWORD=<the plain password>.",
  ];
}

/**
 * Prints the nats-server `accounts` block: the project's own account with JetStream, in it each role (gateway,
 * consumer, forwarder, ops) a user with its permissions for this NATS_NAMESPACE; with --json, the permission
 * lists (for nsc or an operator's tooling).
 */
export function natsConfigCommand(argv: string[], namespace: string | undefined, print: (line: string) => void): void {
  const { values } = parseArgs({
    args: argv,
    options: { nkey: { type: "string", multiple: true }, json: { type: "boolean" } },
  });
  const nkeys = parseNkeys(values.nkey ?? []);
  const entries = natsRoles.map((role) => {
    const nkey = nkeys.get(role);
    return nkey ? { role, nkey } : { role };
  });
  if (values.json) {
    const users = entries.map((entry) => ({
      role: entry.role,
      ...(entry.nkey
        ? { nkey: entry.nkey }
        : {
            user: natsUserName(entry.role, namespace),
            password_variable: natsPasswordVariable(entry.role, namespace),
          }),
      permissions: natsPermissions(entry.role, namespace),
    }));
    print(JSON.stringify({ namespace: namespace ?? null, users }));
    return;
  }
  const passwordRoles = entries.filter((entry) => !entry.nkey).map((entry) => entry.role);
  for (const line of header(namespace, passwordRoles)) print(line);
  print(natsServerAccounts(entries, namespace).trimEnd());
}
