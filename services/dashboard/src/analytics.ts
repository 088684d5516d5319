import { dauResponse, retentionResponse, topEventsResponse } from "@evpipe/shared/api-responses";
import type * as v from "valibot";
import { type Answer, getJson, type Problem, retryDelayMs } from "./api.ts";
import { dauChart, type MountedChart } from "./charts.ts";
import type { DayRange } from "./dates.ts";
import { el, table } from "./dom.ts";
import { formatCount, formatShare } from "./format.ts";
import { Panel } from "./panel.ts";
import { retentionInk, retentionRows, retentionShade } from "./retention.ts";

type Dau = v.InferOutput<typeof dauResponse>;
type TopEvents = v.InferOutput<typeof topEventsResponse>;
type Retention = v.InferOutput<typeof retentionResponse>;

const topEventsLimit = 10;
// A busy gateway is asked again a few times, as long as its Retry-After says; then the person decides.
const busyAttempts = 4;
const busyFallbackMs = 5000;
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const span = ({ from, to }: DayRange) => (from === to ? from : `${from} to ${to}`);
const scroller = (...content: Node[]) => el("div", { class: "scroll" }, ...content);

function dauNumbers(days: Dau["days"]): HTMLElement {
  const rows = days.map(({ day, users }) => [day, formatCount(users)]);
  return el("details", { class: "numbers" }, el("summary", {}, "Numbers"), table(["Day", "Users"], rows, new Set([1])));
}

function topEventsTable(events: TopEvents["events"]): HTMLElement {
  const most = Math.max(1, ...events.map((entry) => entry.count));
  const rows = events.map(({ event, count, users }) => {
    // The bar under each name shows its share of the most frequent event at a glance.
    const bar = el("span", { class: "bar", "aria-hidden": "true" });
    bar.style.width = `${(100 * count) / most}%`;
    return [el("span", { class: "event-name" }, event, bar), formatCount(count), formatCount(users)];
  });
  return table(["Event", "Count", "Users"], rows, new Set([1, 2]));
}

function retentionTable(answer: Retention, today: string): HTMLTableElement {
  const offsets = Array.from({ length: answer.days + 1 }, (_, offset) => `Day ${offset}`);
  // Days without new users make empty rows: left out, so the cohorts that exist fit on a screen.
  const cohorts = answer.cohorts.filter((cohort) => cohort.users > 0);
  const rows = retentionRows(cohorts, today).map(({ cohort, users, cells }) => [
    cohort,
    formatCount(users),
    ...cells.map((cell) => {
      if (cell.kind === "future") return el("span", { class: "future", title: "Not yet" }, "");
      const shaded = el("span", { class: `share ink-${retentionInk(cell.share).ink}` }, formatShare(cell.share));
      shaded.title = `${formatCount(cell.retained)} of ${formatCount(users)} users`;
      shaded.style.backgroundColor = retentionShade(cell.share);
      return shaded;
    }),
  ]);
  const grid = table(["Cohort", "Users", ...offsets], rows, new Set([1]));
  grid.classList.add("retention-grid");
  return grid;
}

/**
 * The analysts' three panels: daily active users, top events and retention, for one range of UTC days. A problem
 * with the key itself goes to `onKeyProblem`, which answers true when it took it (and made the panels idle).
 */
export function analyticsPanels(onKeyProblem: (problem: Problem) => boolean) {
  const dau = new Panel("dau");
  const top = new Panel("top-events");
  const retention = new Panel("retention");
  let chart: MountedChart | undefined;
  // Every load and every idle() takes a new generation: an answer of an older one is dropped, not drawn.
  let generation = 0;

  function showDau(answer: Answer<Dau>, range: DayRange): void {
    chart?.destroy();
    chart = undefined;
    if (!answer.ok) {
      dau.error(answer.problem.message);
    } else if (answer.value.days.every((entry) => entry.users === 0)) {
      dau.empty(`No active users ${span(range)}.`);
    } else {
      const { days } = answer.value;
      const peak = days.reduce((best, entry) => (entry.users > best.users ? entry : best));
      const plot = el("div", { class: "chart", "aria-label": "Daily active users, one bar per day" });
      dau.ready(`${span(range)} (UTC) · peak ${formatCount(peak.users)} on ${peak.day}`, [plot, dauNumbers(days)]);
      chart = dauChart(plot, days);
    }
  }

  function showTop(answer: Answer<TopEvents>, range: DayRange): void {
    if (!answer.ok) top.error(answer.problem.message);
    else if (answer.value.events.length === 0) top.empty(`No events ${span(range)}.`);
    else top.ready(`The ${topEventsLimit} most frequent, ${span(range)}`, [topEventsTable(answer.value.events)]);
  }

  function showRetention(answer: Answer<Retention>, range: DayRange, today: string): void {
    if (!answer.ok) {
      retention.error(answer.problem.message);
    } else if (answer.value.cohorts.every((cohort) => cohort.users === 0)) {
      retention.empty(`No new users ${span(range)}.`);
    } else {
      const note = `Users first seen each day (${span(range)}) and the share active on each day after`;
      retention.ready(note, [scroller(retentionTable(answer.value, today))]);
    }
  }

  /** One panel's request, asked again while the gateway is busy, and drawn only if still current. */
  async function section<T>(
    panel: Panel,
    current: number,
    request: () => Promise<Answer<T>>,
    show: (answer: Answer<T>) => void,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      panel.loading();
      const answer = await request();
      if (current !== generation) return;
      if (answer.ok) return show(answer);
      const { problem } = answer;
      if (onKeyProblem(problem)) return;
      if (problem.kind !== "busy") return show(answer);
      if (attempt === busyAttempts) {
        return show({ ok: false, problem: { ...problem, message: `${problem.message} Press Apply to try again.` } });
      }
      const delayMs = retryDelayMs(problem, busyFallbackMs);
      panel.error(`${problem.message} Trying again in ${Math.round(delayMs / 1000)} s.`);
      await pause(delayMs);
      if (current !== generation) return;
    }
  }

  return {
    idle(message: string): void {
      generation++;
      chart?.destroy();
      chart = undefined;
      for (const panel of [dau, top, retention]) panel.idle(message);
    },

    /** Loads the three answers at once; resolves when each is drawn (or dropped for a newer load). */
    async load(key: string, range: DayRange, retentionDays: number, today: string): Promise<void> {
      const current = ++generation;
      const query = `from=${range.from}&to=${range.to}`;
      await Promise.all([
        section(
          dau,
          current,
          () => getJson(key, `/v1/stats/dau?${query}`, dauResponse),
          (answer) => showDau(answer, range),
        ),
        section(
          top,
          current,
          () => getJson(key, `/v1/stats/top-events?${query}&limit=${topEventsLimit}`, topEventsResponse),
          (answer) => showTop(answer, range),
        ),
        section(
          retention,
          current,
          () => getJson(key, `/v1/stats/retention?${query}&days=${retentionDays}`, retentionResponse),
          (answer) => showRetention(answer, range, today),
        ),
      ]);
    },
  };
}
