import { hostname, userInfo } from "node:os";
import { isNotFound } from "@evpipe/shared";
import type { JetStreamClient, JetStreamManager } from "nats";
import type { DlqTarget } from "./context.ts";

export interface DlqOperation {
  /** The destination whose dead letters these were; absent for the writer's. */
  destination?: string;
  operation: "replay" | "purge";
  selector: Record<string, unknown>;
  messages: number;
  events: number;
  skipped: number;
  by: string;
  at: string;
  duration_ms: number;
  completed: boolean;
}

export function operator(): string {
  let user = process.env.USER ?? "unknown";
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid)
  }
  return `${user}@${hostname()}`;
}

/** Appends a replay or purge to the audit stream that `dlq stats` shows. */
export async function recordOperation(js: JetStreamClient, subject: string, operation: DlqOperation): Promise<void> {
  await js.publish(subject, JSON.stringify(operation));
}

/**
 * Audit records examined at most for one `dlq stats`: the writer's and every destination's operations share the
 * audit stream, so a destination's few can sit behind many of the others'.
 */
const scanLimit = 1000;

/** The latest replays and purges of the target's dead letters, newest first. */
export async function recentOperations(
  jsm: JetStreamManager,
  target: Pick<DlqTarget, "auditStream" | "destination">,
  count: number,
): Promise<DlqOperation[]> {
  const stream = target.auditStream;
  const info = await jsm.streams.info(stream).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (!info) return [];
  const operations: DlqOperation[] = [];
  const last = info.state.last_seq;
  const first = Math.max(info.state.first_seq, last - scanLimit + 1, 1);
  for (let seq = last; seq >= first && operations.length < count; seq--) {
    const stored = await jsm.streams.getMessage(stream, { seq }).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (!stored) continue;
    const operation = JSON.parse(new TextDecoder().decode(stored.data)) as DlqOperation;
    if (operation.destination === target.destination) operations.push(operation);
  }
  return operations;
}
