import type { DestinationNames, NatsNames, StreamSettings } from "@evpipe/shared";
import type { JetStreamClient, JetStreamManager, KV } from "nats";
import type { DlqContext, DlqTarget } from "../dlq/command.ts";

/** What a `destinations` command works with once connected. */
export interface DestinationsContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: DestinationNames;
  /** The project's own names: EVENTS (the destinations' consumers read it) and the DLQ audit stream. */
  natsNames: NatsNames;
  /** The destinations' records, keyed by name. */
  destinations: KV;
  /** What the forwarder reports per destination, keyed by name. */
  status: KV;
  /** For the destinations' streams when they are to be created here. */
  streamSettings: StreamSettings;
  /** The `dlq` commands' context for one destination's dead letters. */
  dlq: (target: DlqTarget) => Promise<DlqContext>;
}

export interface DestinationsDeps {
  /** DESTINATION_SECRETS_KEY as set, read only by the commands that need it (add, list). */
  secretsKey: string | undefined;
  /** Connects; called only once the arguments are known to be good. */
  connect: () => Promise<DestinationsContext>;
  print: (line: string) => void;
}

/** One `destinations` subcommand: parses its arguments first, then connects (a usage mistake needs no NATS). */
export type DestinationsAction = (deps: DestinationsDeps, argv: string[]) => Promise<void>;
