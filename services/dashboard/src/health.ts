import { type PipelineSummary, pipelineSummaryResponse } from "@evpipe/shared/api-responses";
import { getJson, type Problem, retryDelayMs } from "./api.ts";
import { type MountedChart, throughputChart } from "./charts.ts";
import { el, table } from "./dom.ts";
import { formatAge, formatBytes, formatCount, formatInstant, formatRate, formatShare, unknownValue } from "./format.ts";
import { Panel } from "./panel.ts";
import { addSample, emptyHistory, type RateHistory } from "./throughput.ts";

// About five minutes of samples at the gateway's default refresh.
const keptSamples = 60;
const retryMs = 5000;
const fastestMs = 1000;
// A sample older than this many refreshes is flagged: the numbers are shown, but not as live.
const staleRefreshes = 3;
const ageTickMs = 1000;
const plural = (count: number, one: string) => `${formatCount(count)} ${one}${count === 1 ? "" : "s"}`;

function tile(label: string, value: string, detail: string): HTMLElement {
  return el(
    "div",
    { class: "tile" },
    el("dt", {}, label),
    el("dd", { class: "value" }, value),
    el("dd", { class: "detail" }, detail),
  );
}

function tiles(summary: PipelineSummary): HTMLElement[] {
  const { ingest, writer, events_stream: stream, dead_letters: dead } = summary;
  const capacity = stream.max_bytes
    ? ` of ${formatBytes(stream.max_bytes)} (${formatShare(stream.bytes / stream.max_bytes)})`
    : "";
  const reasons = dead.by_reason
    ? `${formatCount(dead.by_reason.retries_exhausted)} retries exhausted, ${formatCount(dead.by_reason.permanent_error)} permanent errors`
    : "Too many to tally here: see pnpm ops dlq stats";
  return [
    tile("Accepted", formatRate(ingest.accepted_per_second, "/s"), `${plural(ingest.gateways, "gateway")} reporting`),
    tile("Stored", formatRate(ingest.stored_per_second, "/s"), `${plural(ingest.consumers, "consumer")} reporting`),
    writer
      ? tile(
          "Consumer lag",
          formatCount(writer.lag),
          `${formatCount(writer.pending)} pending, ${formatCount(writer.unacknowledged)} unacknowledged`,
        )
      : tile("Consumer lag", unknownValue, "The writer's consumer does not exist yet"),
    tile("Dead letters", formatCount(dead.messages), reasons),
    tile("Events stream", formatCount(stream.messages), `messages, ${formatBytes(stream.bytes)}${capacity}`),
  ];
}

function destinations(summary: PipelineSummary): HTMLElement {
  if (summary.destinations.length === 0)
    return el("p", { class: "hint" }, "No destinations: events go to PostgreSQL only.");
  const rows = summary.destinations.map((destination) => [
    `${destination.name} (${destination.type})`,
    destination.state,
    destination.lag === null ? unknownValue : formatCount(destination.lag),
    formatCount(destination.delivered),
    formatCount(destination.failed),
    formatCount(destination.dead_letters),
    destination.last_error ? `${formatInstant(destination.last_error.at)}: ${destination.last_error.message}` : "",
  ]);
  const headers = ["Destination", "State", "Lag", "Delivered", "Failed", "Dead letters", "Last error"];
  return el("div", { class: "scroll" }, table(headers, rows, new Set([2, 3, 4, 5])));
}

/** The panel's content once there is an answer: made on the first, then its own nodes are updated in place. */
class PipelineView {
  private readonly stale = el("p", { class: "stale", hidden: "" });
  private readonly tiles = el("dl", { class: "tiles" });
  private readonly rateNote = el("p", { class: "hint" });
  private readonly destinations = el("div");
  private readonly chart: MountedChart;
  private readonly panel: Panel;
  private sample: { sampledAt: number; refreshMs: number } | undefined;

  constructor(panel: Panel, history: RateHistory, refreshMs: number) {
    this.panel = panel;
    const plot = el("div", { class: "chart", "aria-label": "Events accepted and stored per second" });
    const heading = (text: string) => el("h3", {}, text);
    panel.body.replaceChildren(
      this.stale,
      this.tiles,
      heading("Events per second"),
      this.rateNote,
      plot,
      heading("Destinations"),
      this.destinations,
    );
    this.chart = throughputChart(plot, history, (keptSamples * refreshMs) / 1000);
  }

  update(summary: PipelineSummary, history: RateHistory, refreshMs: number): void {
    this.panel.ready(
      `Sampled ${formatInstant(summary.sampled_at)}, refreshed every ${formatRate(summary.refresh_ms / 1000)} s`,
    );
    this.chart.chart.setData([history.seconds, history.accepted, history.stored]);
    this.tiles.replaceChildren(...tiles(summary));
    const rated = [...history.accepted, ...history.stored].some((value) => value !== null);
    // A rate needs two reports from an instance: until then the chart is empty, and this says why.
    this.rateNote.textContent = rated ? "" : "No rate yet: each gateway and consumer reports every few seconds.";
    this.destinations.replaceChildren(destinations(summary));
    this.sample = { sampledAt: Date.parse(summary.sampled_at), refreshMs };
    this.showAge();
  }

  /**
   * Run on every answer and every second between them: a poll that hangs (until its timeout) or an old sample
   * must not leave numbers on screen that look live.
   */
  showAge(): void {
    if (!this.sample) return;
    const ageMs = Date.now() - this.sample.sampledAt;
    const stale = ageMs > staleRefreshes * this.sample.refreshMs;
    this.stale.hidden = !stale;
    this.stale.textContent = stale ? `Last sampled ${formatAge(ageMs)} ago: these numbers are not live.` : "";
    if (stale) this.panel.root.dataset.stale = "true";
    else delete this.panel.root.dataset.stale;
  }

  destroy(): void {
    this.chart.destroy();
    delete this.panel.root.dataset.stale;
  }
}

/**
 * The operators' panel, polled every refresh_ms the gateway asks for (EventSource cannot send the key header).
 * Polling pauses while the tab is hidden, and stops for good on a key problem.
 */
export function pipelinePanel(onKeyProblem: (problem: Problem) => boolean) {
  const panel = new Panel("pipeline");
  let view: PipelineView | undefined;
  let history: RateHistory = emptyHistory();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ageTicker: ReturnType<typeof setInterval> | undefined;
  let generation = 0;
  let waitingForTab = false;
  let activeKey: string | undefined;

  function clear(): void {
    view?.destroy();
    view = undefined;
  }

  function show(summary: PipelineSummary): void {
    const sample = {
      sampledAt: summary.sampled_at,
      accepted: summary.ingest.accepted_per_second,
      stored: summary.ingest.stored_per_second,
    };
    history = addSample(history, sample, keptSamples);
    const refreshMs = Math.max(fastestMs, summary.refresh_ms);
    view ??= new PipelineView(panel, history, refreshMs);
    view.update(summary, history, refreshMs);
  }

  async function poll(key: string, current: number): Promise<void> {
    if (document.hidden) {
      waitingForTab = true;
      return;
    }
    const answer = await getJson(key, "/v1/pipeline", pipelineSummaryResponse);
    if (current !== generation) return;
    if (answer.ok) {
      show(answer.value);
      timer = setTimeout(() => void poll(key, current), Math.max(fastestMs, answer.value.refresh_ms));
      return;
    }
    clear();
    if (onKeyProblem(answer.problem)) return;
    const delayMs = answer.problem.kind === "busy" ? retryDelayMs(answer.problem, retryMs) : retryMs;
    panel.error(`${answer.problem.message} Trying again in ${Math.round(delayMs / 1000)} s.`);
    timer = setTimeout(() => void poll(key, current), delayMs);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden || !waitingForTab) return;
    waitingForTab = false;
    // Resumes the latest loop only: a stopped one has a newer generation by now.
    const key = activeKey;
    if (key) void poll(key, generation);
  });

  return {
    start(key: string): void {
      this.stop();
      activeKey = key;
      panel.loading();
      ageTicker = setInterval(() => view?.showAge(), ageTickMs);
      void poll(key, generation);
    },
    stop(message = "Enter a read key above to see the pipeline's health."): void {
      generation++;
      activeKey = undefined;
      waitingForTab = false;
      clearTimeout(timer);
      clearInterval(ageTicker);
      clear();
      history = emptyHistory();
      panel.idle(message);
    },
  };
}
