import type { Logger } from "@evpipe/shared";
import type { JetStreamClient, JetStreamManager } from "nats";

/**
 * Whose dead letters a `dlq` command reads and where it sends them back: the writer's (EVENTS_DLQ, replayed to
 * events.ingest) or one destination's (its subject of DESTINATIONS_DLQ, replayed to that destination alone).
 */
export interface DlqTarget {
  /** The stream holding the dead letters. */
  stream: string;
  /** Only this subject's dead letters, when the stream holds several readers' (the destinations share one). */
  filterSubject?: string;
  /** Where a replay publishes a dead letter's events. */
  replaySubject: string;
  auditStream: string;
  auditSubject: string;
  /** The destination whose dead letters these are, named in the audit trail; undefined for the writer's. */
  destination?: string;
}

export interface DlqContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  target: DlqTarget;
  log: Logger;
  print: (line: string) => void;
  /** Progress bars only on a terminal, never with --json. */
  interactive: boolean;
  /** Test seam (OPS_FAULT_INJECTION): runs right after a replay's PubAck, before its dead letter is deleted. */
  afterRepublish?: () => void;
}

/**
 * One `dlq` subcommand: parses its arguments first, then connects (so a usage mistake needs no NATS).
 * `command` is how the operator reached it (`pnpm ops dlq`), for its usage line.
 */
export type DlqAction = (context: () => Promise<DlqContext>, argv: string[], command: string) => Promise<void>;
