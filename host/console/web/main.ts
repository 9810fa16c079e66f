// berth's web console: sign in with an org-admin token, manage the org's
// plugins (consent, settings, logs, traffic), run integration actions,
// manage tokens and signing keys, read the audit log, see the dependency
// graph, and the org's UI — theme, dashboard slots and plugin pages —
// exactly as its active plugins contribute it. The token lives in this
// page's memory only: a reload signs in again.
import "./style.css";
import { api, type Session, type UiManifest, uiManifest } from "./api";
import { renderAudit } from "./audit";
import { renderDashboard } from "./dashboard";
import { button, h, status } from "./dom";
import { renderGraph } from "./graph";
import { renderIntegrations } from "./integrations";
import { renderKeys } from "./keys";
import { stopFollowing } from "./logs";
import { mountFrame } from "./mount";
import { renderPlugin } from "./plugin";
import { renderPlugins } from "./plugins";
import { applyTheme } from "./theme";
import { renderTokens } from "./tokens";
import { destroyCharts } from "./usage";

const main = document.getElementById("app")!;
const nav = document.getElementById("nav")!;

/** Who is signed in; never written to storage. */
let signedIn: Session | null = null;

function renderSignIn(): void {
  const org = h("input", { id: "org", name: "org", required: "", autocomplete: "organization" }) as HTMLInputElement;
  const token = h("input", { id: "token", name: "token", type: "password", required: "" }) as HTMLInputElement;
  const form = h(
    "form",
    { class: "card", id: "sign-in" },
    h("h2", {}, "Sign in"),
    h("p", {}, h("label", { for: "org" }, "Org "), org),
    h("p", {}, h("label", { for: "token" }, "Org-admin token "), token),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const candidate = { org: org.value.trim(), token: token.value.trim() };
    api(candidate, "GET", "/plugins")
      .then(() => {
        signedIn = candidate;
        status("");
        location.hash = "#/";
        void render();
      })
      .catch((error: Error) => status(`sign-in failed: ${error.message}`, true));
  });
  nav.hidden = true;
  document.getElementById("sign-out")!.hidden = true;
  document.getElementById("who")!.textContent = "";
  main.replaceChildren(form);
}

function renderNav(manifest: UiManifest): void {
  const links = [
    h("a", { href: "#/" }, "Dashboard"),
    h("a", { href: "#/plugins" }, "Plugins"),
    h("a", { href: "#/integrations" }, "Integrations"),
    h("a", { href: "#/dependencies" }, "Dependencies"),
    h("a", { href: "#/audit" }, "Audit"),
    h("a", { href: "#/org" }, "Tokens & keys"),
    ...manifest.pages.map((page) => h("a", { href: `#/p/${page.plugin}${page.route}`, "data-page": `${page.plugin}${page.route}` }, page.title)),
  ];
  const route = location.hash || "#/";
  for (const link of links) {
    const target = link.getAttribute("href")!;
    const here = target === "#/" ? route === "#/" : route === target || route.startsWith(`${target}/`);
    if (here) link.setAttribute("aria-current", "page");
  }
  nav.replaceChildren(...links);
  nav.hidden = false;
}

function renderPage(current: Session, manifest: UiManifest, target: string): void {
  const page = manifest.pages.find((p) => `${p.plugin}${p.route}` === target);
  if (!page) {
    main.replaceChildren(h("h2", {}, "Not found"), h("p", {}, `No active plugin page ${target}.`));
    return;
  }
  const mountPoint = h("section", { "data-page": target });
  main.replaceChildren(h("h2", {}, page.title), mountPoint);
  mountFrame(mountPoint, { org: current.org, plugin: page.plugin, entry: page.entry, data: null }, manifest.theme?.tokens ?? {});
}

/** The org's administration: its admin tokens, then its signing policy and keys. */
async function renderOrg(into: HTMLElement, current: Session): Promise<void> {
  const tokens = h("div", {});
  const keys = h("div", {});
  into.replaceChildren(
    h("h2", {}, "Tokens & keys"),
    h("section", { "aria-labelledby": "tokens-title" }, h("h3", { id: "tokens-title" }, "Admin tokens"), tokens),
    h("section", { "aria-labelledby": "keys-title" }, h("h3", { id: "keys-title" }, "Signing"), keys),
  );
  await Promise.all([renderTokens(tokens, current), renderKeys(keys, current)]);
}

/** A plugin name as manifests allow it (`wit/manifest.schema.json`). */
const PLUGIN_NAME = /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/;

/** The plugin the location hash names; anything but a plugin name is refused. */
function pluginNamed(encoded: string): string {
  const name = decodeURIComponent(encoded);
  if (!PLUGIN_NAME.test(name)) throw new Error(`no plugin is named ${JSON.stringify(name)}`);
  return name;
}

/** Renders the view the location hash names, with the org's current UI. */
async function render(): Promise<void> {
  stopFollowing();
  destroyCharts();
  const current = signedIn;
  if (!current) return renderSignIn();
  document.getElementById("who")!.textContent = `org ${current.org}`;
  document.getElementById("sign-out")!.hidden = false;
  try {
    const manifest = await uiManifest(current.org);
    applyTheme(manifest);
    renderNav(manifest);
    const route = location.hash.replace(/^#/, "") || "/";
    if (route === "/plugins") await renderPlugins(main, current, render);
    else if (route.startsWith("/plugins/")) await renderPlugin(main, current, pluginNamed(route.slice(9)), render);
    else if (route === "/integrations") await renderIntegrations(main, current);
    else if (route === "/audit") await renderAudit(main, current);
    else if (route === "/org") await renderOrg(main, current);
    else if (route === "/dependencies") await renderGraph(main, current);
    else if (route.startsWith("/p/")) renderPage(current, manifest, route.slice(3));
    else renderDashboard(main, current, manifest);
  } catch (error) {
    status(String((error as Error).message ?? error), true);
  }
}

document.getElementById("sign-out")!.replaceWith(
  button("Sign out", () => {
    signedIn = null;
    void render();
  }, { id: "sign-out" }),
);
window.addEventListener("hashchange", () => void render());
void render();
