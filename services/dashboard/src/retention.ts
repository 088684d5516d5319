import { addDays } from "./dates.ts";

export interface RetentionCohort {
  cohort: string;
  users: number;
  retained: number[];
}

/** One cell of the grid: `future` when that day has not happened yet, so it is not read as 0 % retained. */
export type RetentionCell = { kind: "share"; retained: number; share: number } | { kind: "future" };

export interface RetentionRow {
  cohort: string;
  users: number;
  cells: RetentionCell[];
}

export function retentionRows(cohorts: readonly RetentionCohort[], today: string): RetentionRow[] {
  return cohorts.map(({ cohort, users, retained }) => ({
    cohort,
    users,
    cells: retained.map((count, offset): RetentionCell => {
      if (addDays(cohort, offset) > today) return { kind: "future" };
      return { kind: "share", retained: count, share: users > 0 ? count / users : 0 };
    }),
  }));
}

// The shade's colour at full strength: dark enough for white text on the largest shares.
const shadeRgb = [29, 78, 216] as const;

const alphaOf = (share: number) => (share <= 0 ? 0 : 0.08 + 0.92 * Math.min(1, share));

/**
 * The cell's background: the shade's colour, more opaque the larger the share. Nothing retained stays blank,
 * and any share at all gets a visible tint, so 1 user in 500 does not look like none.
 */
export function retentionShade(share: number): string {
  if (share <= 0) return "transparent";
  return `rgb(${shadeRgb.join(" ")} / ${alphaOf(share).toFixed(2)})`;
}

/** WCAG relative luminance of the shade as drawn over the white card. */
function shadeLuminance(share: number): number {
  const alpha = alphaOf(share);
  const [r, g, b] = shadeRgb.map((channel) => {
    const value = (255 * (1 - alpha) + channel * alpha) / 255;
    return value <= 0.04045 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Black or white text, whichever contrasts more with the cell (never below 4.5:1 with this shade). */
export function retentionInk(share: number): { ink: "light" | "dark"; contrast: number } {
  const luminance = shadeLuminance(share);
  const onWhite = 1.05 / (luminance + 0.05);
  const onBlack = (luminance + 0.05) / 0.05;
  return onWhite > onBlack ? { ink: "light", contrast: onWhite } : { ink: "dark", contrast: onBlack };
}
