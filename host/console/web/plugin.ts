// One plugin's page: what it is and may do, its actions (activate through
// consent, deactivate, uninstall, roll back), its settings, its log and
// its traffic.
import { type Connector, type Installation, type Session, api } from "./api";
import { renderConfig } from "./config";
import { h } from "./dom";
import { renderLogs } from "./logs";
import { permissionList, pluginActions, type Refresh } from "./plugins";
import { renderUsage } from "./usage";

function section(id: string, title: string, ...content: HTMLElement[]): HTMLElement {
  return h("section", { id, "aria-labelledby": `${id}-title` }, h("h3", { id: `${id}-title` }, title), ...content);
}

/** Renders the page of the plugin `name` into `main`. */
export async function renderPlugin(main: HTMLElement, session: Session, name: string, refresh: Refresh): Promise<void> {
  const [plugin, connectors] = await Promise.all([
    api<Installation>(session, "GET", `/plugins/${name}`),
    api<Connector[]>(session, "GET", "/integrations"),
  ]);
  const actions = pluginActions(session, plugin, refresh);
  const config = h("div", {});
  const logs = h("div", {});
  const usage = h("div", {});
  main.replaceChildren(
    h("p", {}, h("a", { href: "#/plugins" }, "← All plugins")),
    h("h2", { "data-plugin": name, "data-state": plugin.state }, `${name} ${plugin.version}`),
    h("p", {}, plugin.manifest.description),
    h("p", { class: "muted" }, `${plugin.state} · API ${plugin.api ?? "—"} · ${plugin.signed_by ? `signed by ${plugin.signed_by}` : "unsigned"}`),
    h("p", { class: "row" }, ...actions),
    section("permissions", "Permissions", permissionList(plugin)),
    section("settings", "Settings", config),
    section("logs", "Log", logs),
    section("traffic", "Traffic, last hour", usage),
  );
  const connector = connectors.find((c) => c.plugin === name);
  await Promise.all([renderConfig(config, session, plugin, connector), renderLogs(logs, session, name), renderUsage(usage, session, name)]);
}
