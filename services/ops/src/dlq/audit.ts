import { hostname, userInfo } from "node:os";
import { isNotFound } from "@evpipe/shared";
import type { JetStreamClient, JetStreamManager } from "nats";

export interface DlqOperation {
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

export async function recentOperations(jsm: JetStreamManager, stream: string, count: number): Promise<DlqOperation[]> {
  const info = await jsm.streams.info(stream).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (!info) return [];
  const operations: DlqOperation[] = [];
  for (let seq = info.state.last_seq; seq >= info.state.first_seq && seq > 0 && operations.length < count; seq--) {
    const stored = await jsm.streams.getMessage(stream, { seq }).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (stored) operations.push(JSON.parse(new TextDecoder().decode(stored.data)) as DlqOperation);
  }
  return operations;
}
