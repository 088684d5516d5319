type Child = Node | string | null | undefined | false;

/** An element with attributes and children; text goes in as text, never as HTML. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** An element of index.html, of the expected type: a mismatch is a bug of this page, so it throws. */
export function byId<T extends HTMLElement>(id: string, type: abstract new () => T): T {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`index.html has no ${type.name} #${id}`);
  return node;
}

/** A table with a header row and body rows; `numeric` columns are right-aligned. */
export function table(headers: string[], rows: Child[][], numeric: ReadonlySet<number> = new Set()): HTMLTableElement {
  const cell = (tag: "th" | "td", index: number, content: Child) =>
    el(tag, numeric.has(index) ? { class: "num" } : {}, content);
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ...headers.map((header, index) => cell("th", index, header)))),
    el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((content, index) => cell("td", index, content))))),
  );
}
