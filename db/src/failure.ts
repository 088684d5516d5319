/**
 * - transient: this write failed, the same write may succeed later (retry with 3^n backoff, then DLQ);
 * - permanent: the data can never be stored (straight to the DLQ);
 * - outage: the database is unreachable; not the message's fault (pause, probe, resume);
 * - bug: our code or environment is wrong; dead-lettering would empty the stream (stop, keep the messages).
 */
export type FailureKind = "transient" | "permanent" | "outage" | "bug";

export interface Failure {
  kind: FailureKind;
  /** SQLSTATE or Node error code. */
  code: string;
  message: string;
}

const transientStates = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available (lock_timeout)
  "57014", // query_canceled (statement_timeout)
]);

const outageStates = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, shutting down, recovery)
  "53300", // too_many_connections: refused at connect, no statement of ours at fault
  "53400", // configuration_limit_exceeded
]);

const bugStates = new Set([
  "3D000", // invalid_catalog_name: the database does not exist
  "3F000", // invalid_schema_name
]);

const outageErrnos = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

// node-postgres reports a lost or refused connection with these messages and no code.
const outageMessages =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Client was closed|Query read timeout/i;

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** What a database failure means for the write that met it; the consumer decides what to do about it. */
export function classifyFailure(err: unknown): Failure {
  const message = err instanceof Error ? err.message : String(err);
  // Before SQLSTATEs: "EPIPE" has their shape.
  const errno = (err as { code?: unknown } | null)?.code;
  if (typeof errno === "string" && outageErrnos.has(errno)) return { kind: "outage", code: errno, message };
  const state = sqlState(err);
  if (state) {
    const kindOf = (): FailureKind => {
      if (transientStates.has(state)) return "transient";
      if (outageStates.has(state) || state.startsWith("08")) return "outage";
      if (state.startsWith("22") || state.startsWith("23") || state === "54001") return "permanent";
      if (state.startsWith("42") || state.startsWith("28") || bugStates.has(state)) return "bug";
      // Anything else from the database: retry, and dead-letter if it persists.
      return "transient";
    };
    return { kind: kindOf(), code: state, message };
  }
  if (err instanceof AggregateError && err.errors.some((inner) => classifyFailure(inner).kind === "outage")) {
    return { kind: "outage", code: "ECONNREFUSED", message };
  }
  if (outageMessages.test(message)) return { kind: "outage", code: "CONNECTION_LOST", message };
  if (
    err instanceof TypeError ||
    err instanceof RangeError ||
    err instanceof ReferenceError ||
    err instanceof SyntaxError
  ) {
    return { kind: "bug", code: err.name, message };
  }
  return { kind: "transient", code: "UNKNOWN", message };
}
