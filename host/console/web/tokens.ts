// The org's admin tokens: create one (shown once, with a copy button),
// list them, revoke one.
import { type Session, api } from "./api";
import { act, button, h, table, when } from "./dom";

interface TokenView {
  id: string;
  created_at: number;
  token?: string;
}

function shownOnce(created: TokenView): HTMLElement {
  const value = h("input", { id: "new-token", readonly: "", value: created.token ?? "", "aria-describedby": "new-token-note" }) as HTMLInputElement;
  const copied = h("span", { role: "status", class: "copied" });
  const copy = button(
    "Copy",
    () => {
      navigator.clipboard
        .writeText(value.value)
        .then(() => (copied.textContent = "copied"))
        .catch(() => {
          value.select();
          copied.textContent = "select and copy it by hand";
        });
    },
    { "data-action": "copy-token" },
  );
  return h(
    "div",
    { class: "card once", "data-token-id": created.id },
    h("label", { for: "new-token" }, `New token ${created.id}`),
    h("div", { class: "row" }, value, copy, copied),
    h("p", { id: "new-token-note" }, "Shown only now: berth keeps only its hash. Store it safely."),
  );
}

/** Renders the token list into `into`; `created` is shown once above it. */
export async function renderTokens(into: HTMLElement, session: Session, created: TokenView | null = null): Promise<void> {
  const tokens = await api<TokenView[]>(session, "GET", "/tokens");
  const create = button(
    "Create a token",
    () =>
      void act("create token", async () => {
        const token = await api<TokenView>(session, "POST", "/tokens", "{}");
        await renderTokens(into, session, token);
      }),
    { "data-action": "create-token", class: "primary" },
  );
  const rows = tokens.map((token) =>
    h(
      "tr",
      { "data-token": token.id },
      h("td", {}, h("code", {}, token.id)),
      h("td", {}, when(token.created_at)),
      h(
        "td",
        {},
        button(
          "Revoke",
          () => void act(`revoke token ${token.id}`, () => api(session, "DELETE", `/tokens/${token.id}`)).then(() => renderTokens(into, session)),
          { "data-action": "revoke-token", "aria-label": `Revoke token ${token.id}` },
        ),
      ),
    ),
  );
  into.replaceChildren(
    ...(created ? [shownOnce(created)] : []),
    create,
    rows.length ? table("tokens", "Admin tokens of the org", ["Token id", "Created", ""], rows) : h("p", {}, "No tokens besides the operator's."),
  );
}
