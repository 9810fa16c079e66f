// The plugin list: state, version, permissions; install by upload;
// activate (with an editable grant), deactivate, uninstall.
import { api, type Installation, type Session } from "./api";
import { button, h, status } from "./dom";

/** Re-renders the console after a change (theme, slots, pages may differ). */
export type Refresh = () => Promise<void>;

function permissionsText(value: unknown): string {
  return value === null || value === undefined ? "—" : JSON.stringify(value, null, 1);
}

async function act(label: string, step: () => Promise<unknown>, refresh: Refresh): Promise<void> {
  try {
    await step();
    status(`${label}: done`);
  } catch (error) {
    status(`${label}: ${String((error as Error).message ?? error)}`, true);
  }
  await refresh();
}

function row(session: Session, plugin: Installation, refresh: Refresh): HTMLElement {
  const path = `/plugins/${plugin.name}`;
  const grant = h("textarea", { "aria-label": `grant for ${plugin.name}` }) as HTMLTextAreaElement;
  grant.value = JSON.stringify(plugin.manifest.permissions ?? {}, null, 2);
  const activate = () =>
    act(`activate ${plugin.name}`, () => api(session, "POST", `${path}/activate`, JSON.stringify({ grant: JSON.parse(grant.value) })), refresh);
  const actions =
    plugin.state === "active"
      ? [button("Deactivate", () => void act(`deactivate ${plugin.name}`, () => api(session, "POST", `${path}/deactivate`), refresh), { "data-action": "deactivate" })]
      : [
          button("Activate", () => void activate(), { "data-action": "activate" }),
          button("Uninstall", () => void act(`uninstall ${plugin.name}`, () => api(session, "DELETE", path), refresh), { "data-action": "uninstall" }),
        ];
  const grantEditor = h("details", {}, h("summary", {}, "Grant…"), grant, button("Activate with this grant", () => void activate()));
  return h(
    "tr",
    { "data-plugin": plugin.name, "data-state": plugin.state },
    h("td", {}, h("strong", {}, plugin.name), h("br"), plugin.manifest.description),
    h("td", {}, plugin.version, h("br"), h("small", { class: "signer" }, plugin.signed_by ? `signed by ${plugin.signed_by}` : "unsigned")),
    h("td", { class: "state" }, plugin.state),
    h("td", {}, h("code", {}, permissionsText(plugin.state === "active" ? plugin.granted : plugin.manifest.permissions))),
    h("td", {}, ...actions, grantEditor),
  );
}

/** Renders the plugin list and upload form into `main`. */
export async function renderPlugins(main: HTMLElement, session: Session, refresh: Refresh): Promise<void> {
  const plugins = await api<Installation[]>(session, "GET", "/plugins");
  const file = h("input", { type: "file", accept: ".zip,application/zip", name: "package", id: "upload" }) as HTMLInputElement;
  const upload = h("form", { class: "card", id: "install" }, h("label", { for: "upload" }, "Install a plugin (ZIP): "), file, h("button", { type: "submit" }, "Install"));
  upload.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    void act(`install ${chosen.name}`, () => api(session, "POST", "/plugins", chosen, "application/zip"), refresh);
  });
  const table = h(
    "table",
    { id: "plugins" },
    h("thead", {}, h("tr", {}, ...["Plugin", "Version", "State", "Permissions", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, ...plugins.map((plugin) => row(session, plugin, refresh))),
  );
  main.replaceChildren(h("h2", {}, "Plugins"), upload, h("section", {}, table));
}
