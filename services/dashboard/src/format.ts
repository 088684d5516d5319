// One locale for every number on the page, so a count reads the same in the chart, the tables and the tests.
const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** Shown for a value the gateway does not know yet (null). */
export const unknownValue = "–";

export const formatCount = (value: number): string => whole.format(value);

/** Events per second: one decimal below 10, where it still tells a trickle from nothing. */
export function formatRate(value: number | null, unit = ""): string {
  if (value === null) return unknownValue;
  return `${value < 10 ? oneDecimal.format(value) : whole.format(value)}${unit}`;
}

/** A share of 0..1 as a percentage: one decimal below 10 %, so 0.4 % is not shown as 0 %. */
export function formatShare(share: number): string {
  const percent = share * 100;
  if (percent > 0 && percent < 0.1) return "<0.1%";
  return `${percent > 0 && percent < 10 ? oneDecimal.format(percent) : whole.format(percent)}%`;
}

const byteUnits = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < byteUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${oneDecimal.format(value)} ${byteUnits[unit]}`;
}

/** An RFC 3339 instant in UTC, to the second: the days of every chart are UTC days too. */
export function formatInstant(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A duration already past, to the unit a person reads it in: "42 s", "3 min", "2 h". */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min`;
  return `${formatCount(Math.floor(seconds / 3600))} h`;
}
