import type { Logger, NatsNames } from "@evpipe/shared";
import type { JetStreamClient, JetStreamManager } from "nats";

export interface DlqContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: NatsNames;
  log: Logger;
  print: (line: string) => void;
  /** Progress bars only on a terminal, never with --json. */
  interactive: boolean;
  /** Test seam (OPS_FAULT_INJECTION): runs right after a replay's PubAck, before its dead letter is deleted. */
  afterRepublish?: () => void;
}

/** One `dlq` subcommand: parses its arguments first, then connects (so a usage mistake needs no NATS). */
export type DlqAction = (context: () => Promise<DlqContext>, argv: string[]) => Promise<void>;
