// The plugin list: state, version and permissions in words; install by
// upload (an upgrade shows what the new version adds and drops before the
// admin consents); activate through the consent dialog; deactivate,
// uninstall.
import { type Installation, type Session, api } from "./api";
import { askConsent } from "./consent";
import { act, button, h, sentence, status, table } from "./dom";
import { type Permissions, consentItems, difference, grantedKeys } from "./permissions";

/** Re-renders the console after a change (theme, slots, pages may differ). */
export type Refresh = () => Promise<void>;

/** `POST …/plugins/{name}/activate` with `grant`, reported on the status line. */
function activate(session: Session, name: string, grant: Permissions): Promise<boolean> {
  return act(`activate ${name}`, () => api(session, "POST", `/plugins/${name}/activate`, JSON.stringify({ grant })));
}

/** Installs (or upgrades) the package `file`, reported on the status line. */
function install(session: Session, label: string, file: File): Promise<boolean> {
  return act(label, () => api(session, "POST", "/plugins", file, "application/zip"));
}

/** Asks for consent to `plugin`'s permissions and activates it with the ticked ones. */
export async function activateWithConsent(session: Session, plugin: Installation): Promise<boolean> {
  const declared = plugin.manifest.permissions as Permissions | undefined;
  const grant = await askConsent({
    title: `Activate ${plugin.name} ${plugin.version}?`,
    intro: "It asks to do the following. Untick what you do not want to allow; it then works without it, or refuses to start.",
    sections: [{ heading: "It may", items: consentItems(declared), ticked: grantedKeys(plugin.granted), choosable: true }],
    confirm: "Activate",
  });
  return grant ? activate(session, plugin.name, grant) : false;
}

/** A package's manifest, and the installed plugin it would upgrade (`POST …/plugins/preview`). */
interface Preview {
  manifest: { name: string; version: string; permissions?: Permissions };
  installed: Installation | null;
}

/** Installs `file`; an upgrade first shows its difference and asks for consent. */
async function installPackage(session: Session, file: File): Promise<void> {
  const preview = await api<Preview>(session, "POST", "/plugins/preview", file, "application/zip");
  const installed = preview.installed;
  if (!installed) {
    await install(session, `install ${preview.manifest.name}`, file);
    return;
  }
  const change = difference(installed.manifest.permissions as Permissions, preview.manifest.permissions);
  // Only an active plugin's grant carries over; an inactive one is asked
  // for its grant when it is activated.
  const active = installed.state === "active";
  const more = change.added.length ? "The new version asks for more than the installed one." : "The new version asks for nothing new.";
  const grant = await askConsent({
    title: `Upgrade ${installed.name} from ${installed.version} to ${preview.manifest.version}?`,
    intro: active ? `${more} Untick what you do not want to allow.` : `${more} It is not active: you choose what to grant when you activate it.`,
    sections: [
      { heading: "New in this version", items: change.added, ticked: null, choosable: active },
      { heading: "No longer asked for", items: change.removed, ticked: null, choosable: false },
      { heading: "Unchanged", items: change.kept, ticked: grantedKeys(installed.granted), choosable: active },
    ],
    confirm: "Upgrade",
  });
  if (!grant) return status(`upgrade of ${installed.name} cancelled`);
  const upgraded = await install(session, `upgrade ${installed.name}`, file);
  if (!upgraded || !active) return;
  // An active plugin keeps serving with the old grant narrowed to the new
  // version, or waits when it asks for more: activate it with what the
  // admin consented to unless that is what it already has.
  const now = await api<Installation>(session, "GET", `/plugins/${installed.name}`);
  const wanted = grantedKeys(grant)!;
  const has = grantedKeys(now.granted) ?? new Set<string>();
  if (now.state === "active" && has.size === wanted.size && [...wanted].every((key) => has.has(key))) return;
  await activate(session, installed.name, grant);
}

/** The permissions `plugin` asks for, in words, each marked granted or not when it is active. */
export function permissionList(plugin: Installation): HTMLElement {
  const items = consentItems(plugin.manifest.permissions as Permissions);
  if (items.length === 0) return h("p", { class: "muted" }, "No permissions");
  const granted = grantedKeys(plugin.granted);
  return h(
    "ul",
    { class: "permissions" },
    ...items.map((item) => {
      const yes = plugin.state === "active" && (granted?.has(item.key) ?? false);
      const mark = plugin.state !== "active" ? "" : yes ? "✓ " : "✗ ";
      const label = plugin.state !== "active" ? "" : yes ? "granted" : "not granted";
      return h("li", { "data-permission": item.key, "data-granted": String(yes), title: label }, h("span", { "aria-label": label }, mark), sentence(item.sentence));
    }),
  );
}

/** The buttons of what can be done to `plugin` now; `refresh` redraws after each. */
export function pluginActions(session: Session, plugin: Installation, refresh: Refresh): HTMLElement[] {
  const path = `/plugins/${plugin.name}`;
  const then = () => void refresh();
  const step = (label: string, action: string, run: () => Promise<unknown>) =>
    button(label, () => void run().then(then), { "data-action": action, "aria-label": `${label.replace("…", "")} ${plugin.name}` });
  const actions =
    plugin.state === "active"
      ? [step("Deactivate", "deactivate", () => act(`deactivate ${plugin.name}`, () => api(session, "POST", `${path}/deactivate`)))]
      : [
          step("Activate…", "activate", () => activateWithConsent(session, plugin)),
          step("Uninstall", "uninstall", async () => {
            // Its own page is gone with it: show the list.
            if ((await act(`uninstall ${plugin.name}`, () => api(session, "DELETE", path))) && location.hash !== "#/plugins") location.hash = "#/plugins";
          }),
        ];
  if (plugin.previous) {
    const version = plugin.previous.version;
    actions.push(step(`Roll back to ${version}`, "rollback", () => act(`roll back ${plugin.name}`, () => api(session, "POST", `${path}/rollback`))));
  }
  return actions;
}

function row(session: Session, plugin: Installation, refresh: Refresh): HTMLElement {
  const actions = pluginActions(session, plugin, refresh);
  return h(
    "tr",
    { "data-plugin": plugin.name, "data-state": plugin.state, "data-version": plugin.version },
    h("td", {}, h("a", { href: `#/plugins/${plugin.name}` }, h("strong", {}, plugin.name)), h("br"), plugin.manifest.description),
    h("td", {}, plugin.version, h("br"), h("small", { class: "signer" }, plugin.signed_by ? `signed by ${plugin.signed_by}` : "unsigned"), h("br"), h("small", {}, `API ${plugin.api ?? "—"}`)),
    h("td", { class: "state" }, plugin.state),
    h("td", {}, permissionList(plugin)),
    h("td", { class: "actions" }, ...actions),
  );
}

/** Renders the plugin list and upload form into `main`. */
export async function renderPlugins(main: HTMLElement, session: Session, refresh: Refresh): Promise<void> {
  const plugins = await api<Installation[]>(session, "GET", "/plugins");
  const file = h("input", { type: "file", accept: ".zip,application/zip", name: "package", id: "upload" }) as HTMLInputElement;
  const upload = h("form", { class: "card", id: "install" }, h("label", { for: "upload" }, "Install or upgrade a plugin (ZIP) "), file, h("button", { type: "submit" }, "Install"));
  upload.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return status("choose a plugin package (ZIP) first", true);
    installPackage(session, chosen)
      .catch((error: Error) => status(`install ${chosen.name}: ${error.message}`, true))
      .finally(() => void refresh());
  });
  const rows = plugins.map((plugin) => row(session, plugin, refresh));
  main.replaceChildren(h("h2", {}, "Plugins"), upload, h("section", {}, table("plugins", "Installed plugins", ["Plugin", "Version", "State", "Permissions", ""], rows)));
}
