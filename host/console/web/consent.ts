// The consent dialog: before a plugin is activated or upgraded, each power
// it asks for is shown as a sentence with a tick box. Unticking narrows
// the grant; an upgrade shows what is new and what is gone first.
import { button, h, sentence } from "./dom";
import { type ConsentItem, type Permissions, grantOf } from "./permissions";

/** A group of items in the dialog. */
export interface ConsentSection {
  heading: string;
  items: ConsentItem[];
  /** Which items start ticked (`null`: all of them). */
  ticked: Set<string> | null;
  /** Whether the items can be ticked at all (dropped powers cannot). */
  choosable: boolean;
}

/** What the dialog asks. */
export interface ConsentRequest {
  title: string;
  intro: string;
  sections: ConsentSection[];
  confirm: string;
}

let dialogs = 0;

/** Shows the dialog; resolves with the grant of the ticked items, or `null` if cancelled. */
export function askConsent(request: ConsentRequest): Promise<Permissions | null> {
  const id = `consent-${++dialogs}`;
  const boxes: { item: ConsentItem; box: HTMLInputElement }[] = [];
  const sections = request.sections
    .filter((section) => section.items.length > 0)
    .map((section) =>
      h(
        "fieldset",
        { class: "consent-section", "data-section": section.heading },
        h("legend", {}, section.heading),
        h(
          "ul",
          { class: "consent-items" },
          ...section.items.map((item) => {
            if (!section.choosable) return h("li", { "data-permission": item.key, class: "dropped" }, sentence(item.sentence));
            const box = h("input", { type: "checkbox", id: `${id}-${boxes.length}`, "data-permission": item.key }) as HTMLInputElement;
            box.checked = section.ticked === null || section.ticked.has(item.key);
            boxes.push({ item, box });
            return h("li", {}, box, h("label", { for: box.id }, sentence(item.sentence)));
          }),
        ),
      ),
    );
  const nothing = boxes.length === 0 ? [h("p", {}, "It asks for no permissions.")] : [];
  const dialog = h(
    "dialog",
    { class: "consent", "aria-labelledby": `${id}-title`, id },
    h("h2", { id: `${id}-title` }, request.title),
    h("p", {}, request.intro),
    ...sections,
    ...nothing,
  ) as HTMLDialogElement;
  return new Promise((resolve) => {
    const close = (grant: Permissions | null) => {
      dialog.close();
      dialog.remove();
      resolve(grant);
    };
    const confirm = button(request.confirm, () => close(grantOf(boxes.filter((b) => b.box.checked).map((b) => b.item))), {
      "data-action": "consent",
      class: "primary",
    });
    dialog.append(h("p", { class: "actions" }, confirm, button("Cancel", () => close(null), { "data-action": "cancel" })));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
