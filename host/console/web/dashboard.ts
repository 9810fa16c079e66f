// The dashboard: the `dashboard.widgets` slot, filled with the components
// active plugins contribute there, each in its own sandboxed frame.
import type { Session, UiManifest } from "./api";
import { h } from "./dom";
import { mountFrame } from "./mount";

/** The slot the dashboard renders. */
export const DASHBOARD_SLOT = "dashboard.widgets";

/** Renders the dashboard into `main`. */
export function renderDashboard(main: HTMLElement, session: Session, manifest: UiManifest): void {
  const components = manifest.slots[DASHBOARD_SLOT] ?? [];
  const slot = h("div", { class: "slot", "data-slot": DASHBOARD_SLOT });
  const theme = manifest.theme?.tokens ?? {};
  for (const component of components) {
    const widget = h("div", {
      class: "widget",
      "data-plugin": component.plugin,
      "data-component": component.name,
    });
    slot.append(widget);
    mountFrame(widget, { org: session.org, plugin: component.plugin, entry: component.entry, data: component.data }, theme);
  }
  const empty = components.length === 0 ? [h("p", {}, "No plugin contributes widgets yet.")] : [];
  main.replaceChildren(h("h2", {}, "Dashboard"), slot, ...empty);
}
