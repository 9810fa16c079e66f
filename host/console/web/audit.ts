// The org's audit log: pages of events, oldest first, filtered by plugin.
import { type Session, api } from "./api";
import { button, h, status, table, when } from "./dom";

interface AuditEvent {
  seq: number;
  at: number;
  action: string;
  plugin: string | null;
  version: string | null;
  detail: string;
}

/** Events per page. */
const PAGE = 25;

/** Where the audit view is: the filter, and the cursors of the pages before. */
interface AuditPosition {
  plugin: string;
  cursors: number[];
}

/** Shows another page, reporting a failure on the status line. */
function show(main: HTMLElement, session: Session, position: AuditPosition): void {
  renderAudit(main, session, position).catch((error: Error) => status(`audit log: ${error.message}`, true));
}

/** Renders one page of the audit log into `main`. */
export async function renderAudit(main: HTMLElement, session: Session, position: AuditPosition = { plugin: "", cursors: [0] }): Promise<void> {
  const after = position.cursors[position.cursors.length - 1];
  const query = new URLSearchParams({ after: String(after), limit: String(PAGE) });
  if (position.plugin) query.set("plugin", position.plugin);
  const [events, plugins] = await Promise.all([
    api<AuditEvent[]>(session, "GET", `/audit?${query}`),
    api<{ name: string }[]>(session, "GET", "/plugins"),
  ]);
  const filter = h("input", { id: "audit-plugin", list: "audit-plugins", value: position.plugin, autocomplete: "off" }) as HTMLInputElement;
  const form = h(
    "form",
    { class: "card row", id: "audit-filter" },
    h("label", { for: "audit-plugin" }, "Plugin"),
    filter,
    h("datalist", { id: "audit-plugins" }, ...plugins.map((p) => h("option", { value: p.name }))),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    show(main, session, { plugin: filter.value.trim(), cursors: [0] });
  });
  const rows = events.map((e) =>
    h(
      "tr",
      { "data-seq": String(e.seq), "data-action": e.action },
      h("td", {}, String(e.seq)),
      h("td", {}, when(e.at)),
      h("td", {}, e.action),
      h("td", {}, e.plugin ?? "—", e.version ? ` ${e.version}` : ""),
      h("td", {}, e.detail),
    ),
  );
  const previous = button("← Earlier", () => show(main, session, { ...position, cursors: position.cursors.slice(0, -1) }), { "data-action": "audit-earlier" });
  (previous as HTMLButtonElement).disabled = position.cursors.length < 2;
  const next = button("Later →", () => show(main, session, { ...position, cursors: [...position.cursors, events[events.length - 1].seq] }), { "data-action": "audit-later" });
  (next as HTMLButtonElement).disabled = events.length < PAGE;
  const page = position.cursors.length;
  main.replaceChildren(
    h("h2", {}, "Audit log"),
    form,
    rows.length ? table("audit", "Audit events, oldest first", ["#", "When", "Action", "Plugin", "Detail"], rows) : h("p", {}, "No events."),
    h("nav", { class: "pager", "aria-label": "Audit pages" }, previous, h("span", {}, `Page ${page}`), next),
  );
}
