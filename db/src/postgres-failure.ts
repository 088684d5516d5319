/**
 * The database URL as it may be printed: the user stays, the password goes, including one given as a query
 * parameter (pg reads `?password=` and `?sslpassword=` too).
 */
export function postgresUrlForLog(url: string): string {
  const shown = new URL(url);
  shown.password = "";
  for (const name of [...shown.searchParams.keys()]) {
    if (/password/i.test(name)) shown.searchParams.delete(name);
  }
  return shown.toString();
}

const connectionCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH"]);

interface ErrorFields {
  message?: string;
  code?: string;
  errors?: Array<{ message?: string }>;
}

/**
 * One line for a failure PostgreSQL or the network explains (unreachable, a refused login, an SQL error with its
 * SQLSTATE), or undefined for anything else: a bug, whose stack is worth keeping.
 */
export function postgresFailure(err: unknown, where: string): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const fields = err as ErrorFields;
  // A host name with several addresses fails with an AggregateError whose own message is empty.
  const message = fields.message || fields.errors?.[0]?.message || fields.code || "unknown error";
  const code = fields.code ?? "";
  if (connectionCodes.has(code) || /timeout|Connection terminated/i.test(message)) {
    return `cannot reach PostgreSQL at ${where}: ${message}`;
  }
  if (/^[0-9A-Z]{5}$/.test(code)) return `PostgreSQL at ${where} refused: ${message} (SQLSTATE ${code})`;
  return undefined;
}
