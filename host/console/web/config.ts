// A plugin's configuration form: a connector's config JSON Schema, or
// else the settings and secrets the plugin declares, edited in a generated
// form. Secrets are write-only (shown as set or not set); refusals come
// back field by field.
import { ApiError, type Connector, type Installation, type JsonSchema, type Session, api } from "./api";
import { h, status } from "./dom";
import type { Permissions } from "./permissions";
import { schemaForm } from "./schemaform";

/** `GET …/plugins/{name}/config`: settings, and secrets by name only. */
interface ConfigView {
  config: Record<string, string>;
  secrets: string[];
}

/** The schema the form is generated from, and which of its fields are secrets. */
function formSchema(plugin: Installation, connector: Connector | undefined): { schema: JsonSchema; secrets: Set<string> } {
  const declared = (plugin.manifest.permissions ?? {}) as Permissions;
  const secrets = new Set(declared.secrets ?? []);
  if (connector?.config_schema?.properties) return { schema: connector.config_schema, secrets };
  const properties: Record<string, JsonSchema> = {};
  for (const key of [...(declared.config ?? []), ...(declared.secrets ?? [])]) properties[key] = { type: "string" };
  return { schema: { type: "object", properties }, secrets };
}

/** Renders the configuration form of `plugin` into `into` (nothing if it has nothing to configure). */
export async function renderConfig(into: HTMLElement, session: Session, plugin: Installation, connector: Connector | undefined): Promise<void> {
  const { schema, secrets } = formSchema(plugin, connector);
  if (Object.keys(schema.properties ?? {}).length === 0) {
    into.replaceChildren(h("p", {}, "This plugin has no settings."));
    return;
  }
  const path = `/plugins/${plugin.name}/config`;
  const current = await api<ConfigView>(session, "GET", path);
  const form = schemaForm(schema, {
    id: `config-${plugin.name}`,
    values: current.config,
    secretNames: secrets,
    secretsSet: new Set(current.secrets),
    stringsOnly: true,
  });
  const element = h("form", { id: "config-form", "data-plugin": plugin.name }, form.element, h("button", { type: "submit", class: "primary" }, "Save settings"));
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    // Settings the form has no field for are kept: PUT replaces them all.
    const unshown = Object.entries(current.config).filter(([key]) => !(key in (schema.properties ?? {})));
    const body = { config: { ...Object.fromEntries(unshown), ...form.values() }, secrets: form.secrets() };
    api(session, "PUT", path, JSON.stringify(body))
      .then(() => {
        status(`settings of ${plugin.name} saved`);
        return renderConfig(into, session, plugin, connector);
      })
      .catch((error: Error) => {
        form.showProblems(error instanceof ApiError ? error.fields : []);
        status(`saving settings failed: ${error.message}`, true);
      });
  });
  into.replaceChildren(element);
}
