import { type DeadLetterRecord, deadLetterReasons, isUtcDay, parseRfc3339, parseWholeNumber } from "@evpipe/shared";
import { CliError, usageExit } from "../cli-error.ts";

/** Which dead letters a command applies to; every given filter must match. */
export interface Selector {
  all: boolean;
  seqs: number[] | undefined;
  reason: string | undefined;
  code: string | undefined;
  since: Date | undefined;
  until: Date | undefined;
}

export const selectorOptions = {
  all: { type: "boolean" },
  seq: { type: "string", multiple: true },
  reason: { type: "string" },
  code: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
} as const;

const relative = /^(\d+)([smhd])$/;
const unitMs = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** An RFC 3339 date-time, a UTC date (YYYY-MM-DD), or a time ago: 30m, 2h, 7d. */
export function parseTime(option: string, value: string, now = Date.now()): Date {
  const ago = relative.exec(value);
  if (ago) return new Date(now - Number(ago[1]) * unitMs[ago[2] as keyof typeof unitMs]);
  const ms = isUtcDay(value) ? parseRfc3339(`${value}T00:00:00Z`) : parseRfc3339(value);
  if (Number.isNaN(ms)) {
    throw new CliError(
      `--${option} "${value}" is not a time: use 2026-11-23T10:00:00Z, 2026-11-23, or 30m / 2h / 7d ago`,
      usageExit,
    );
  }
  return new Date(ms);
}

export function parseSelector(
  values: { all?: boolean; seq?: string[]; reason?: string; code?: string; since?: string; until?: string },
  options: { required: boolean },
): Selector {
  const seqs = values.seq
    ?.flatMap((value) => value.split(","))
    .map((value) => {
      const seq = parseWholeNumber(value, 1, Number.MAX_SAFE_INTEGER);
      if (seq === undefined) throw new CliError(`--seq "${value}" is not a sequence number`, usageExit);
      return seq;
    });
  if (values.reason !== undefined && !(deadLetterReasons as readonly string[]).includes(values.reason)) {
    throw new CliError(`--reason must be one of ${deadLetterReasons.join(", ")}`, usageExit);
  }
  if (values.code !== undefined && !/^[0-9A-Za-z_]{1,32}$/.test(values.code)) {
    throw new CliError(
      `--code "${values.code}" is not an error code (a SQLSTATE such as 23514, or ENVELOPE_INVALID)`,
      usageExit,
    );
  }
  const selector: Selector = {
    all: values.all ?? false,
    seqs,
    reason: values.reason,
    code: values.code?.toUpperCase(),
    since: values.since === undefined ? undefined : parseTime("since", values.since),
    until: values.until === undefined ? undefined : parseTime("until", values.until),
  };
  const filtered = seqs !== undefined || selector.reason || selector.code || selector.since || selector.until;
  if (selector.all && filtered)
    throw new CliError("--all selects everything: give it alone, or filters without it", usageExit);
  if (options.required && !selector.all && !filtered) {
    throw new CliError(
      "say what to select: --all, --seq N..., --reason R, --code C, --since T or --until T",
      usageExit,
    );
  }
  return selector;
}

export function matches(selector: Selector, record: DeadLetterRecord): boolean {
  if (selector.seqs && !selector.seqs.includes(record.seq)) return false;
  if (selector.reason && record.reason !== selector.reason) return false;
  if (selector.code && record.errorCode.toUpperCase() !== selector.code) return false;
  if (selector.since && record.storedAt < selector.since) return false;
  if (selector.until && record.storedAt > selector.until) return false;
  return true;
}

/** The selector as recorded in the audit trail. */
export function describeSelector(selector: Selector): Record<string, unknown> {
  if (selector.all) return { all: true };
  return Object.fromEntries(
    Object.entries({
      seqs: selector.seqs,
      reason: selector.reason,
      code: selector.code,
      since: selector.since?.toISOString(),
      until: selector.until?.toISOString(),
    }).filter(([, value]) => value !== undefined),
  );
}
