import { ConfigError } from "@evpipe/shared";

/** A failure to report to the operator as one line, with this exit code; never a stack trace. */
export class CliError extends Error {
  override name = "CliError";
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export const usageExit = 2;

/**
 * Reports a failure the user can act on (a CliError, a bad environment variable, a malformed option) as one line
 * under the program's name and sets the exit code; false for anything else, which the caller treats as a bug.
 */
export function reportCliFailure(program: string, err: unknown): boolean {
  // parseArgs reports unknown or malformed options as ERR_PARSE_ARGS_* errors: a usage mistake.
  const isUsage = String((err as { code?: unknown }).code ?? "").startsWith("ERR_PARSE_ARGS");
  if (!(err instanceof CliError || err instanceof ConfigError || isUsage)) return false;
  process.stderr.write(`${program}: ${(err as Error).message}\n`);
  process.exitCode = err instanceof CliError ? err.exitCode : usageExit;
  return true;
}
