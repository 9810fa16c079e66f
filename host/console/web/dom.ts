// Small DOM helpers: elements are built with textContent, never innerHTML,
// so nothing a plugin or an API answer says can inject markup.
import type { Sentence } from "./permissions";

/** Creates `<tag>` with attributes and children (strings become text). */
export function h(
  tag: string,
  attributes: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

/** A button running `action` on click. */
export function button(label: string, action: () => void, attributes: Record<string, string> = {}): HTMLElement {
  const element = h("button", { type: "button", ...attributes }, label);
  element.addEventListener("click", action);
  return element;
}

/** A sentence as text with its names in `<code>`. */
export function sentence(parts: Sentence): DocumentFragment {
  const fragment = document.createDocumentFragment();
  for (const part of parts) fragment.append(typeof part === "string" ? part : h("code", {}, part.code));
  return fragment;
}

/** A table (its rows stack on narrow screens, each cell named by its heading). */
export function table(id: string, caption: string, headings: string[], rows: HTMLElement[]): HTMLElement {
  for (const row of rows) {
    [...row.children].forEach((cell, column) => cell.setAttribute("data-label", headings[column] ?? ""));
  }
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { id },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, ...headings.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...rows),
    ),
  );
}

/** Seconds since the Unix epoch as a local date and time. */
export function when(seconds: number): string {
  return new Date(seconds * 1000).toLocaleString();
}

let statusCounter = 0;

/** Shows a status line (an error in red), announced to screen readers. */
export function status(message: string, error = false): void {
  const line = document.getElementById("status")!;
  line.textContent = message;
  line.classList.toggle("error", error);
  line.dataset.seq = String(++statusCounter);
}

/** Runs `step`, reporting "`label`: done" or its error on the status line. */
export async function act(label: string, step: () => Promise<unknown>): Promise<boolean> {
  try {
    await step();
    status(`${label}: done`);
    return true;
  } catch (error) {
    status(`${label}: ${String((error as Error).message ?? error)}`, true);
    return false;
  }
}
