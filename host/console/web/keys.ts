// Package signing for the org: its signature policy (read-only where the
// operator has locked it), the keys it trusts, and trusting a new one.
import { type Session, api } from "./api";
import { act, button, h, table, when } from "./dom";

interface SigningPolicy {
  require_signature: boolean;
  set_by: string | null;
  locked: boolean;
  keys: { id: string; key: string; comment: string; added_at: number }[];
  operator_keys: string[];
}

function policyForm(into: HTMLElement, session: Session, policy: SigningPolicy): HTMLElement {
  const box = h("input", { type: "checkbox", id: "require-signature" }) as HTMLInputElement;
  box.checked = policy.require_signature;
  box.disabled = policy.locked;
  const save = button(
    "Save policy",
    () => void act("signature policy", () => api(session, "PUT", "/signature-policy", JSON.stringify({ "require-signature": box.checked }))).then(() => renderKeys(into, session)),
    { "data-action": "save-policy" },
  );
  (save as HTMLButtonElement).disabled = policy.locked;
  const who = policy.set_by ? `Set by ${policy.set_by}.` : "Never set: unsigned plugins are accepted.";
  const lock = policy.locked ? " Locked by the operator: only the operator can change it." : "";
  return h(
    "div",
    { class: "card", id: "signature-policy", "data-locked": String(policy.locked) },
    h("p", {}, box, h("label", { for: "require-signature" }, " Require a trusted signature on every install")),
    h("p", { class: "muted" }, who, lock),
    save,
  );
}

function trustForm(into: HTMLElement, session: Session): HTMLElement {
  const key = h("textarea", { id: "trust-key", rows: "3", required: "", spellcheck: "false" }) as HTMLTextAreaElement;
  const comment = h("input", { id: "trust-comment" }) as HTMLInputElement;
  const form = h(
    "form",
    { class: "card", id: "trust" },
    h("div", { class: "field" }, h("label", { for: "trust-key" }, "Minisign public key (.pub file or its key line)"), key),
    h("div", { class: "field" }, h("label", { for: "trust-comment" }, "Whose key it is"), comment),
    h("button", { type: "submit" }, "Trust this key"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void act("trust key", () => api(session, "POST", "/trusted-keys", JSON.stringify({ key: key.value, comment: comment.value }))).then((ok) => {
      if (ok) void renderKeys(into, session);
    });
  });
  return form;
}

/** Renders the signature policy and trusted keys into `into`. */
export async function renderKeys(into: HTMLElement, session: Session): Promise<void> {
  const policy = await api<SigningPolicy>(session, "GET", "/trusted-keys");
  const rows = policy.keys.map((key) =>
    h(
      "tr",
      { "data-key": key.id },
      h("td", {}, h("code", {}, key.id)),
      h("td", {}, key.comment),
      h("td", {}, when(key.added_at)),
      h("td", {}, button("Untrust", () => void act(`untrust ${key.id}`, () => api(session, "DELETE", `/trusted-keys/${key.id}`)).then(() => renderKeys(into, session)), { "aria-label": `Untrust key ${key.id}` })),
    ),
  );
  const operatorKeys = policy.operator_keys.length ? [h("p", {}, "Trusted by the operator for every org: ", policy.operator_keys.join(", "))] : [];
  into.replaceChildren(
    policyForm(into, session, policy),
    rows.length ? table("trusted-keys", "Keys the org trusts", ["Key id", "Whose", "Added", ""], rows) : h("p", {}, "The org trusts no keys of its own."),
    ...operatorKeys,
    trustForm(into, session),
  );
}
