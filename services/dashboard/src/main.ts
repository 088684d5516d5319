import "./styles.css";
import { analyticsPanels } from "./analytics.ts";
import { isKeyProblem, type Problem } from "./api.ts";
import { type DayRange, lastDays, rangeProblem, utcDay } from "./dates.ts";
import { byId } from "./dom.ts";
import { pipelinePanel } from "./health.ts";
import { storedKey, storeKey } from "./key-store.ts";
import { lookupPanels } from "./lookup.ts";

const keyForm = byId("key-form", HTMLFormElement);
const keyInput = byId("api-key", HTMLInputElement);
const keyMessage = byId("key-message", HTMLElement);
const forgetKey = byId("forget-key", HTMLButtonElement);
const rangeForm = byId("range-form", HTMLFormElement);
const fromInput = byId("range-from", HTMLInputElement);
const toInput = byId("range-to", HTMLInputElement);
const retentionDays = byId("retention-days", HTMLSelectElement);
const rangeMessage = byId("range-message", HTMLElement);

const defaultRangeDays = 30;
const noKey = "Enter a read key above to see this.";
let key: string | undefined;
let range: DayRange = lastDays(defaultRangeDays, Date.now());

/** Every panel back to waiting for a key, with nothing a previous key fetched left on screen. */
function forgetPanels(): void {
  analytics.idle(noKey);
  pipeline.stop();
  lookup.idle();
}

/** True when the problem is the key's: said once, by the key field, and every panel waits for a new key. */
function keyProblem(problem: Problem): boolean {
  if (!isKeyProblem(problem)) return false;
  key = undefined;
  storeKey(undefined);
  keyMessage.textContent = problem.message;
  keyMessage.dataset.kind = problem.kind;
  forgetPanels();
  keyInput.focus();
  return true;
}

const analytics = analyticsPanels(keyProblem);
const pipeline = pipelinePanel(keyProblem);
const lookup = lookupPanels(() => key, keyProblem);

function showRange(): void {
  fromInput.value = range.from;
  toInput.value = range.to;
  for (const preset of rangeForm.querySelectorAll<HTMLButtonElement>("button[data-days]")) {
    const days = Number(preset.dataset.days);
    const matches = JSON.stringify(lastDays(days, Date.now())) === JSON.stringify(range);
    preset.setAttribute("aria-pressed", String(matches));
  }
}

function loadAnalytics(): void {
  if (key) void analytics.load(key, range, Number(retentionDays.value), utcDay(Date.now()));
}

function useKey(entered: string): void {
  // A lookup still on its way with the previous key must not report on (or reject) this one.
  if (entered !== key) lookup.idle();
  key = entered;
  storeKey(entered);
  keyMessage.textContent = "";
  delete keyMessage.dataset.kind;
  loadAnalytics();
  pipeline.start(entered);
}

keyForm.addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  const entered = keyInput.value.trim();
  if (entered === "") {
    keyMessage.textContent = "Enter an API key with the read scope.";
    return;
  }
  useKey(entered);
});

forgetKey.addEventListener("click", () => {
  key = undefined;
  storeKey(undefined);
  keyInput.value = "";
  keyMessage.textContent = "The key is forgotten.";
  delete keyMessage.dataset.kind;
  forgetPanels();
});

function applyRange(next: DayRange): void {
  const problem = rangeProblem(next);
  rangeMessage.textContent = problem ?? "";
  if (problem) return;
  range = next;
  showRange();
  loadAnalytics();
}

rangeForm.addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  applyRange({ from: fromInput.value, to: toInput.value });
});
for (const preset of rangeForm.querySelectorAll<HTMLButtonElement>("button[data-days]")) {
  preset.addEventListener("click", () => applyRange(lastDays(Number(preset.dataset.days), Date.now())));
}
retentionDays.addEventListener("change", loadAnalytics);

showRange();
forgetPanels();
const remembered = storedKey();
if (remembered) {
  keyInput.value = remembered;
  useKey(remembered);
}
