import { byId } from "./dom.ts";

/**
 * One section of the page and its state, which CSS and the browser tests read from `data-state`:
 * idle (no key yet), loading, empty, error or ready.
 */
export class Panel {
  readonly root: HTMLElement;
  readonly body: HTMLElement;
  private readonly status: HTMLElement;

  constructor(id: string) {
    this.root = byId(id, HTMLElement);
    this.body = this.part(".body");
    this.status = this.part(".status");
  }

  private part(selector: string): HTMLElement {
    const node = this.root.querySelector(selector);
    if (!(node instanceof HTMLElement)) throw new Error(`#${this.root.id} has no ${selector}`);
    return node;
  }

  private set(state: string, message: string): void {
    this.root.dataset.state = state;
    this.root.setAttribute("aria-busy", String(state === "loading"));
    this.status.textContent = message;
    this.status.setAttribute("role", state === "error" ? "alert" : "status");
  }

  idle(message: string): void {
    this.set("idle", message);
    this.body.replaceChildren();
  }

  /** Keeps what is shown (dimmed by CSS) until the new answer replaces it. */
  loading(): void {
    this.set("loading", "Loading…");
  }

  empty(message: string): void {
    this.set("empty", message);
    this.body.replaceChildren();
  }

  error(message: string): void {
    this.set("error", message);
    this.body.replaceChildren();
  }

  /**
   * `note` is a line above the content (what the numbers cover). Given content replaces the old; without it,
   * the content stays, for a view that updates its own nodes (the live health panel).
   */
  ready(note: string, content?: Node[]): void {
    this.set("ready", note);
    if (content) this.body.replaceChildren(...content);
  }
}
