// The org's integration connectors: each action with a form generated from
// its input schema; running one shows its output or its error.
import { ApiError, type Action, type Connector, type Session, api } from "./api";
import { h } from "./dom";
import { schemaForm } from "./schemaform";

function actionForm(session: Session, connector: Connector, action: Action): HTMLElement {
  const id = `action-${connector.plugin}-${action.name}`;
  const form = schemaForm(action.input_schema, { id });
  const result = h("output", { class: "action-result", "aria-live": "polite" });
  const element = h(
    "form",
    { class: "card action", id, "data-plugin": connector.plugin, "data-action-name": action.name },
    h("h4", {}, action.name),
    h("p", {}, action.description),
    form.element,
    h("button", { type: "submit", class: "primary" }, `Run ${action.name}`),
    result,
  );
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    result.replaceChildren("running…");
    result.className = "action-result";
    const path = `/integrations/${connector.plugin}/actions/${action.name}`;
    api<{ output: unknown }>(session, "POST", path, JSON.stringify(form.values()))
      .then((answer) => {
        form.showProblems([]);
        result.replaceChildren(h("strong", {}, "Output"), h("pre", { "data-output": "" }, JSON.stringify(answer.output, null, 2)));
      })
      .catch((error: Error) => {
        form.showProblems(error instanceof ApiError ? error.fields : []);
        result.className = "action-result error";
        const code = error instanceof ApiError ? `${error.code}: ` : "";
        result.replaceChildren(h("strong", {}, "Error"), h("p", { "data-error": "" }, `${code}${error.message}`));
      });
  });
  return element;
}

/** Renders every active connector and its actions into `main`. */
export async function renderIntegrations(main: HTMLElement, session: Session): Promise<void> {
  const connectors = await api<Connector[]>(session, "GET", "/integrations");
  const cards = connectors.map((connector) =>
    h(
      "section",
      { "data-connector": connector.plugin },
      h("h3", {}, connector.name, " ", h("small", {}, `(${connector.plugin})`)),
      h("p", {}, connector.description, " ", h("a", { href: `#/plugins/${connector.plugin}` }, `Settings of ${connector.plugin}`)),
      ...connector.actions.map((action) => actionForm(session, connector, action)),
    ),
  );
  const empty = cards.length === 0 ? [h("p", {}, "No active plugin is an integration connector.")] : [];
  main.replaceChildren(h("h2", {}, "Integrations"), ...cards, ...empty);
}
