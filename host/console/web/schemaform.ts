// Forms generated from a JSON Schema object: one labelled control per
// top-level property (text, number, tick box, choice list, or JSON for
// anything richer), secrets as write-only password fields, and the API's
// field-by-field refusals shown beside the fields they name.
import type { FieldProblem, JsonSchema } from "./api";
import { h } from "./dom";

/** How one property is edited. */
interface Field {
  name: string;
  schema: JsonSchema;
  control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
  error: HTMLElement;
  secret: boolean;
  /** For a secret: the "remove it" tick box. */
  remove: HTMLInputElement | null;
}

/** A generated form's fields, read back as values. */
export interface SchemaForm {
  /** The fields, to put inside a `<form>`. */
  element: HTMLElement;
  /** Each non-secret field's value (empty text and unset choices left out). */
  values(): Record<string, unknown>;
  /** Each secret: its new value, `null` to remove it; untouched ones left out. */
  secrets(): Record<string, string | null>;
  /** Shows `problems` beside their fields (and the rest above them); clears old ones. */
  showProblems(problems: FieldProblem[]): void;
}

/** What the form starts with. */
export interface FormOptions {
  /** Prefix of the controls' ids, unique on the page. */
  id: string;
  /** Current values of the non-secret fields. */
  values?: Record<string, unknown>;
  /** Names of the fields that are secrets (write-only). */
  secretNames?: Set<string>;
  /** Names of the secrets that are set now. */
  secretsSet?: Set<string>;
  /** Whether values are strings whatever the schema's type (plugin settings are). */
  stringsOnly?: boolean;
}

function typeOf(schema: JsonSchema): string {
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (schema.enum) return "enum";
  return type ?? "string";
}

function control(field: { id: string; schema: JsonSchema; secret: boolean; value: unknown; stringsOnly: boolean }): Field["control"] {
  const { id, schema, secret, value, stringsOnly } = field;
  const type = stringsOnly && typeOf(schema) !== "enum" ? "string" : typeOf(schema);
  if (type === "enum") {
    const choices = schema.enum ?? [];
    const select = h("select", { id }, h("option", { value: "" }, "—"), ...choices.map((v, i) => h("option", { value: String(i) }, String(v)))) as HTMLSelectElement;
    const chosen = choices.findIndex((v) => v === value || String(v) === String(value));
    select.value = chosen < 0 ? "" : String(chosen);
    return select;
  }
  if (type === "boolean") {
    const box = h("input", { id, type: "checkbox" }) as HTMLInputElement;
    box.checked = value === true;
    return box;
  }
  if (type === "object" || type === "array") {
    const area = h("textarea", { id, rows: "4", spellcheck: "false" }) as HTMLTextAreaElement;
    area.value = value === undefined ? "" : JSON.stringify(value, null, 2);
    return area;
  }
  const input = h("input", {
    id,
    type: secret ? "password" : type === "integer" || type === "number" ? "number" : "text",
    autocomplete: secret ? "new-password" : "off",
  }) as HTMLInputElement;
  if (type === "integer") input.step = "1";
  if (!secret && value !== undefined) input.value = String(value);
  return input;
}

function read(field: Field, stringsOnly: boolean): unknown {
  const { control: c, schema } = field;
  const type = stringsOnly && typeOf(schema) !== "enum" ? "string" : typeOf(schema);
  if (c instanceof HTMLInputElement && c.type === "checkbox") return stringsOnly ? String(c.checked) : c.checked;
  if (c.value === "") return undefined;
  // A choice is sent as the schema lists it (a number stays a number).
  if (c instanceof HTMLSelectElement) return stringsOnly ? String(schema.enum?.[Number(c.value)]) : schema.enum?.[Number(c.value)];
  if (type === "integer" || type === "number") return Number(c.value);
  if (type === "object" || type === "array") {
    try {
      return JSON.parse(c.value);
    } catch {
      return c.value;
    }
  }
  return c.value;
}

/** Builds the fields of an object `schema`. */
export function schemaForm(schema: JsonSchema, options: FormOptions): SchemaForm {
  const required = new Set(schema.required ?? []);
  const stringsOnly = options.stringsOnly ?? false;
  const general = h("p", { class: "field-error", role: "alert", "data-field": "" });
  const fields: Field[] = Object.entries(schema.properties ?? {}).map(([name, property], index) => {
    const secret = property.writeOnly === true || (options.secretNames?.has(name) ?? false);
    const id = `${options.id}-${index}`;
    const c = control({ id, schema: property, secret, value: options.values?.[name], stringsOnly });
    c.setAttribute("name", name);
    c.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
    if (required.has(name)) c.setAttribute("aria-required", "true");
    let remove: HTMLInputElement | null = null;
    if (secret) {
      const set = options.secretsSet?.has(name) ?? false;
      c.setAttribute("placeholder", set ? "set — type to replace" : "not set");
      if (set) remove = h("input", { type: "checkbox", id: `${id}-remove`, "data-remove": name }) as HTMLInputElement;
    }
    return { name, schema: property, control: c, error: h("p", { class: "field-error", id: `${id}-error`, "data-field": name }), secret, remove };
  });
  const element = h(
    "div",
    { class: "schema-form" },
    general,
    ...fields.map((f) => {
      const secretState = f.secret
        ? [h("span", { class: "secret-state", "data-secret": f.name }, options.secretsSet?.has(f.name) ? "set" : "not set")]
        : [];
      const removal = f.remove ? [h("span", { class: "remove" }, f.remove, h("label", { for: f.remove.id }, `Remove ${f.name}`))] : [];
      const hint = [f.schema.description, f.secret ? "Write-only: its value is never shown." : ""].filter(Boolean).join(" ");
      return h(
        "div",
        { class: "field", "data-name": f.name },
        h("label", { for: f.control.id }, f.schema.title ?? f.name, required.has(f.name) ? " (required)" : "", ...secretState),
        f.control,
        ...removal,
        h("small", { id: `${f.control.id}-hint` }, hint),
        f.error,
      );
    }),
  );
  return {
    element,
    values() {
      const out: Record<string, unknown> = {};
      for (const f of fields.filter((f) => !f.secret)) {
        const value = read(f, stringsOnly);
        if (value !== undefined) out[f.name] = value;
      }
      return out;
    },
    secrets() {
      const out: Record<string, string | null> = {};
      for (const f of fields.filter((f) => f.secret)) {
        if (f.remove?.checked) out[f.name] = null;
        else if (f.control.value !== "") out[f.name] = f.control.value;
      }
      return out;
    },
    showProblems(problems) {
      general.textContent = "";
      for (const f of fields) {
        f.error.textContent = "";
        f.control.removeAttribute("aria-invalid");
      }
      for (const problem of problems) {
        // The top-level property of the field's JSON pointer (~1 is "/", ~0 is "~").
        const name = problem.field.split("/")[0].replaceAll("~1", "/").replaceAll("~0", "~");
        const f = fields.find((candidate) => candidate.name === name);
        const text = `${name || "The form"} ${problem.message}`;
        if (f) {
          f.error.textContent = [f.error.textContent, text].filter(Boolean).join("; ");
          f.control.setAttribute("aria-invalid", "true");
        } else {
          general.textContent = [general.textContent, text].filter(Boolean).join("; ");
        }
      }
    },
  };
}
