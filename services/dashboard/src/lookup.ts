import { storedEventResponse, userEventsResponse } from "@evpipe/shared/api-responses";
import type * as v from "valibot";
import { getJson, type Problem } from "./api.ts";
import { byId, el, table } from "./dom.ts";
import { formatInstant } from "./format.ts";
import { Panel } from "./panel.ts";

type StoredEvent = v.InferOutput<typeof storedEventResponse>;

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const userEventsLimit = 20;
// A lookup is asked for by hand, so it is asked again by hand too.
const tryAgain = (problem: Problem) => (problem.kind === "busy" ? " Look it up again in a moment." : "");

function eventDetails(event: StoredEvent): HTMLElement[] {
  const fields: [string, string][] = [
    ["Id", event.id],
    ["Event", event.event],
    ["User", event.user_id],
    ["Type", event.type],
    ["Anonymous id", event.anonymous_id ?? "–"],
    ["Occurred", formatInstant(event.occurred_at)],
    ["Received", formatInstant(event.received_at)],
    ["Stored", formatInstant(event.stored_at)],
    ["Request id", event.request_id],
    ["Key id", event.key_id],
  ];
  const list = el(
    "dl",
    { class: "fields" },
    ...fields.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]),
  );
  const metadata = el("pre", { class: "metadata" }, JSON.stringify(event.metadata ?? null, null, 2));
  return [list, el("h3", {}, "Metadata"), metadata];
}

/**
 * Event lookup by id and the latest events of a user. `currentKey` is read at each request, so a key entered
 * after the page loaded is used; a problem with the key itself goes to `onKeyProblem`.
 */
export function lookupPanels(currentKey: () => string | undefined, onProblem: (problem: Problem) => boolean) {
  const eventPanel = new Panel("event-lookup");
  const userPanel = new Panel("user-events");
  const eventForm = byId("event-form", HTMLFormElement);
  const eventId = byId("event-id", HTMLInputElement);
  const userForm = byId("user-form", HTMLFormElement);
  const userId = byId("user-id", HTMLInputElement);
  // Each lookup, and idle(), takes a new number: answers can arrive out of order, and only the latest is shown.
  let eventGeneration = 0;
  let userGeneration = 0;

  async function lookUpEvent(id: string): Promise<void> {
    const current = ++eventGeneration;
    const key = currentKey();
    if (!key) return eventPanel.error("Enter a read key above first.");
    if (!uuid.test(id)) return eventPanel.error("An event id is a UUID, like 0192e4c2-0000-7000-8000-000000000001.");
    eventPanel.loading();
    const answer = await getJson(key, `/v1/events/${encodeURIComponent(id)}`, storedEventResponse);
    if (current !== eventGeneration) return;
    if (answer.ok) return eventPanel.ready("Stored; times in UTC.", eventDetails(answer.value));
    if (answer.problem.kind === "not-found") {
      return eventPanel.empty(
        `No stored event ${id}: an accepted event is stored within seconds, or it was never sent.`,
      );
    }
    if (!onProblem(answer.problem)) eventPanel.error(answer.problem.message + tryAgain(answer.problem));
  }

  function userEventRow(event: StoredEvent) {
    // The first block of the id tells events apart in the list; the full id is one click away.
    const open = el("button", { type: "button", class: "link", title: event.id }, `${event.id.slice(0, 8)}…`);
    open.setAttribute("aria-label", `Look up event ${event.id}`);
    open.addEventListener("click", () => {
      eventId.value = event.id;
      void lookUpEvent(event.id);
    });
    return [formatInstant(event.occurred_at), event.event, open];
  }

  async function showUserEvents(user: string): Promise<void> {
    const current = ++userGeneration;
    const key = currentKey();
    if (!key) return userPanel.error("Enter a read key above first.");
    if (user === "") return userPanel.error("Enter a user id.");
    userPanel.loading();
    const query = `user_id=${encodeURIComponent(user)}&limit=${userEventsLimit}`;
    const answer = await getJson(key, `/v1/events?${query}`, userEventsResponse);
    if (current !== userGeneration) return;
    if (!answer.ok) {
      if (!onProblem(answer.problem)) userPanel.error(answer.problem.message + tryAgain(answer.problem));
      return;
    }
    const { events, next_cursor } = answer.value;
    if (events.length === 0) return userPanel.empty(`No stored events of user ${user}.`);
    const note = next_cursor
      ? `The ${events.length} newest events of ${user}`
      : `All ${events.length} events of ${user}, newest first`;
    const rows = events.map(userEventRow);
    userPanel.ready(note, [el("div", { class: "scroll" }, table(["Occurred", "Event", "Id"], rows))]);
  }

  eventForm.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    void lookUpEvent(eventId.value.trim());
  });
  userForm.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    void showUserEvents(userId.value.trim());
  });

  return {
    idle(): void {
      eventGeneration++;
      userGeneration++;
      eventPanel.idle("Enter an event id to see the stored event.");
      userPanel.idle("Enter a user id to see that user's latest events.");
    },
  };
}
