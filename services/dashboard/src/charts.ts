import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { utcDay } from "./dates.ts";
import { formatCount, formatRate, unknownValue } from "./format.ts";

export const accent = "#2563eb";
const stored = "#16a34a";
const halfDay = 43_200;
// Whole-number steps for the count axis: a day has no half a user.
const countSteps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8];

/** Room for the longest tick label of a count axis, so "12,000" is not clipped to "2,000". */
const labelRoom = (_u: uPlot, values: string[] | null) =>
  16 + 8 * Math.max(3, ...(values ?? []).map((value) => value.length));

/** HH:MM:SS in UTC, like every time on the page. */
const clockTime = (seconds: number) => new Date(seconds * 1000).toISOString().slice(11, 19);

/** The days of every chart are UTC days, whatever the browser's zone. */
const utc = (seconds: number) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC");

/** A chart that follows its container's width; call the returned function to remove it. */
function mount(container: HTMLElement, options: Omit<uPlot.Options, "width">, data: uPlot.AlignedData) {
  const chart = new uPlot({ ...options, width: Math.max(200, container.clientWidth) }, data, container);
  const observer = new ResizeObserver(() => {
    const width = Math.max(200, container.clientWidth);
    if (width !== chart.width) chart.setSize({ width, height: chart.height });
  });
  observer.observe(container);
  return {
    chart,
    destroy: () => {
      observer.disconnect();
      chart.destroy();
    },
  };
}

export type MountedChart = ReturnType<typeof mount>;

/** Daily active users as bars, one per UTC day; the legend under the chart shows the hovered day's number. */
export function dauChart(container: HTMLElement, days: readonly { day: string; users: number }[]): MountedChart {
  const x = days.map(({ day }) => Date.parse(day) / 1000);
  const users = days.map((entry) => entry.users);
  const first = x[0] ?? 0;
  const last = x.at(-1) ?? first;
  const bars = uPlot.paths.bars?.({ size: [0.7, 48], align: 0 });
  return mount(
    container,
    {
      height: 240,
      tzDate: utc,
      // Half a day either side, so the first and the last bar are drawn whole.
      scales: {
        x: { time: true, range: () => [first - halfDay, last + halfDay] },
        y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] },
      },
      axes: [{ space: 60 }, { incrs: countSteps, values: (_u, ticks) => ticks.map(formatCount), size: labelRoom }],
      series: [
        { label: "Day", value: (_u, seconds) => (seconds == null ? unknownValue : utcDay(seconds * 1000)) },
        {
          label: "Users",
          stroke: accent,
          fill: "rgb(37 99 235 / 0.7)",
          paths: bars,
          points: { show: false },
          value: (_u, count) => (count == null ? unknownValue : formatCount(count)),
        },
      ],
      cursor: { drag: { x: false, y: false }, points: { show: false } },
    },
    [x, users],
  );
}

/** Accepted and stored events per second over the samples this page has seen, newest on the right. */
export function throughputChart(
  container: HTMLElement,
  samples: { seconds: number[]; accepted: (number | null)[]; stored: (number | null)[] },
  windowSeconds: number,
): MountedChart {
  const rate = (_u: uPlot, value: number | null) => formatRate(value ?? null, "/s");
  return mount(
    container,
    {
      height: 160,
      tzDate: utc,
      // A fixed window ending at the newest sample: with one or two samples uPlot would otherwise span years.
      scales: {
        x: {
          time: true,
          range: (_u, _min, max) => {
            const end = Number.isFinite(max) ? max : Date.now() / 1000;
            return [end - windowSeconds, end];
          },
        },
        y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] },
      },
      axes: [
        { space: 80, values: (_u, ticks) => ticks.map((tick) => clockTime(tick)) },
        {
          // Decimals only while every tick is small: "0.0" beside "10,000" reads as noise.
          values: (_u, ticks) => ticks.map((tick) => (Math.max(...ticks) >= 10 ? formatCount(tick) : formatRate(tick))),
          size: labelRoom,
        },
      ],
      series: [
        { label: "Time", value: (_u, seconds) => (seconds == null ? unknownValue : `${clockTime(seconds)} UTC`) },
        // uPlot draws points only while the samples are few, so a single one is visible.
        { label: "Accepted", stroke: accent, width: 2, value: rate },
        { label: "Stored", stroke: stored, width: 2, dash: [6, 3], value: rate },
      ],
      cursor: { drag: { x: false, y: false } },
    },
    [samples.seconds, samples.accepted, samples.stored],
  );
}
