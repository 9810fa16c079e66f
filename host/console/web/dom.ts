// Small DOM helpers: elements are built with textContent, never innerHTML,
// so nothing a plugin or an API answer says can inject markup.

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

/** Shows a status line (an error in red). */
export function status(message: string, error = false): void {
  const line = document.getElementById("status")!;
  line.textContent = message;
  line.classList.toggle("error", error);
}
