/** The API's days are UTC days (YYYY-MM-DD), whatever the browser's time zone. */
export interface DayRange {
  from: string;
  to: string;
}

const dayMs = 86_400_000;
export const maxRangeDays = 366;

export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export const addDays = (day: string, count: number): string => utcDay(Date.parse(day) + count * dayMs);

/** A real calendar day written as YYYY-MM-DD (2026-02-30 is not one). */
export const isDay = (text: string): boolean =>
  /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(text)) && utcDay(Date.parse(text)) === text;

/** The last `count` UTC days, today included. */
export function lastDays(count: number, now: number): DayRange {
  const to = utcDay(now);
  return { from: addDays(to, 1 - count), to };
}

export const daysIn = ({ from, to }: DayRange): number => Math.round((Date.parse(to) - Date.parse(from)) / dayMs) + 1;

/** Why the gateway would refuse this range (the same rules as its own), or undefined when it is fine. */
export function rangeProblem(range: DayRange): string | undefined {
  if (!isDay(range.from) || !isDay(range.to)) return "Choose a start and an end day.";
  if (range.to < range.from) return "The end day is before the start day.";
  if (daysIn(range) > maxRangeDays) return `A range is at most ${maxRangeDays} days.`;
  return undefined;
}

/** uPlot's x values: seconds since the epoch at each day's UTC midnight. */
export const daySeconds = (day: string): number => Date.parse(day) / 1000;
