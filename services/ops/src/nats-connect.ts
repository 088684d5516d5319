import { type NatsAuth, natsConnectionOptions, natsRefusal, natsUrlForLog } from "@evpipe/shared";
import { connect, type NatsConnection } from "nats";
import { CliError } from "./cli-error.ts";

/**
 * One attempt, as a command-line tool should: a refusal (credentials, TLS) or an unreachable server is one
 * line naming the server without its credentials, never a wait or a stack trace.
 */
export async function connectOnce(
  natsUrl: string,
  auth: NatsAuth | undefined,
  name: string,
  purpose = "",
): Promise<NatsConnection> {
  try {
    return await connect({ ...natsConnectionOptions(natsUrl, auth), name, timeout: 3000 });
  } catch (err) {
    const where = natsUrlForLog(natsUrl);
    const refusal = natsRefusal(err, auth);
    if (refusal) throw new CliError(`NATS at ${where} refused the connection: ${refusal}`);
    throw new CliError(`cannot reach NATS at ${where}${purpose}: ${(err as Error).message}`);
  }
}

/** A request the server refused for this user's permissions, as one line; undefined for anything else. */
export function permissionRefusal(err: unknown): string | undefined {
  if ((err as { code?: unknown }).code !== "PERMISSIONS_VIOLATION") return undefined;
  return `NATS refused this user: ${(err as Error).message} (connect as the ops user: pnpm ops nats-config)`;
}
