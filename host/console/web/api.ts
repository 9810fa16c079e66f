// The management API and the org's UI manifest, for the signed-in org: one
// JSON call, one streamed call (server-sent events), and the answers' shapes.

/** Who is signed in: an org and one of its admin tokens. */
export interface Session {
  org: string;
  token: string;
}

/** One field the API refused, as a JSON error's `fields` names it. */
export interface FieldProblem {
  /** The property (JSON pointer without its leading slash; "" for the whole object). */
  field: string;
  /** The JSON Schema keyword it failed. */
  keyword: string;
  /** What is wrong, never the value sent. */
  message: string;
}

/** A JSON error answer of berth. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: FieldProblem[] = [],
  ) {
    super(message);
  }
}

function headersFor(session: Session, contentType?: string): Record<string, string> {
  const headers: Record<string, string> = { authorization: `Bearer ${session.token}` };
  if (contentType) headers["content-type"] = contentType;
  return headers;
}

/**
 * The URL of `/api/v1/orgs/{org}{path}`, refused unless it stays inside
 * the org's API: the token is sent nowhere else, even when `path` holds
 * something crafted (a plugin name from the location hash with `..` in it
 * would otherwise walk the request, token and all, to a tenant's route).
 */
function orgApiUrl(session: Session, path: string): string {
  const prefix = `/api/v1/orgs/${encodeURIComponent(session.org)}`;
  const url = new URL(prefix + path, location.origin);
  const inside = url.pathname === prefix || url.pathname.startsWith(`${prefix}/`);
  if (url.origin !== location.origin || !inside) {
    throw new ApiError(0, "outside_org_api", `not an API path of org ${session.org}: ${path}`);
  }
  return url.href;
}

async function failure(response: Response): Promise<ApiError> {
  const text = await response.text();
  let error = { code: "http_error", message: response.statusText, fields: [] as FieldProblem[] };
  try {
    error = { ...error, ...JSON.parse(text).error };
  } catch {
    // Not berth's JSON error: keep the status line.
  }
  return new ApiError(response.status, error.code, error.message, error.fields ?? []);
}

/** Calls `/api/v1/orgs/{org}{path}` with the session's token. */
export async function api<T>(
  session: Session,
  method: string,
  path: string,
  body?: BodyInit,
  contentType = "application/json",
): Promise<T> {
  const headers = headersFor(session, body === undefined ? undefined : contentType);
  const response = await fetch(orgApiUrl(session, path), { method, headers, body });
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  return (text ? JSON.parse(text) : null) as T;
}

/** One server-sent event. */
export interface StreamEvent {
  event: string;
  id: string;
  data: string;
}

/**
 * Reads `/api/v1/orgs/{org}{path}` as server-sent events (with the token,
 * which `EventSource` cannot send), calling `onEvent` for each, until the
 * stream ends or `signal` aborts it.
 */
export async function apiStream(
  session: Session,
  path: string,
  signal: AbortSignal,
  onEvent: (event: StreamEvent) => void,
): Promise<void> {
  const response = await fetch(orgApiUrl(session, path), { headers: headersFor(session), signal });
  if (!response.ok || !response.body) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    // Line ends: CRLF, CR or LF; a CR at a chunk's end may start a CRLF.
    buffered = (buffered + value).replace(/\r\n|\r(?!$)/g, "\n");
    let end: number;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const event: StreamEvent = { event: "message", id: "", data: "" };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(text);
        else if (field === "event") event.event = text;
        else if (field === "id") event.id = text;
      }
      if (data.length > 0) onEvent({ ...event, data: data.join("\n") });
    }
  }
}

/** One installed plugin, as `GET …/plugins` lists it. */
export interface Installation {
  name: string;
  version: string;
  state: string;
  api: string | null;
  manifest: { description: string; kinds: string[]; permissions?: unknown };
  granted: unknown;
  /** Id of the trusted key that signed the package, if signed. */
  signed_by: string | null;
  /** The version a rollback returns to. */
  previous: { version: string } | null;
}

/** A connector's action, as `GET …/integrations` lists it. */
export interface Action {
  name: string;
  description: string;
  input_schema: JsonSchema;
  output_schema: JsonSchema;
}

/** An active integration connector. */
export interface Connector {
  plugin: string;
  name: string;
  description: string;
  config_schema: JsonSchema;
  actions: Action[];
}

/** The part of JSON Schema the console's forms understand. */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  writeOnly?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
}

/** The org's merged UI contributions (`/o/{org}/ui/manifest.json`). */
export interface UiManifest {
  pages: { plugin: string; route: string; title: string; entry: string }[];
  slots: Record<string, { plugin: string; name: string; entry: string; data: string | null }[]>;
  theme: { plugin: string; tokens: Record<string, string>; overridden: string[] } | null;
}

/** Reads the org's merged UI manifest (revalidated every time). */
export async function uiManifest(org: string): Promise<UiManifest> {
  const response = await fetch(`/o/${org}/ui/manifest.json`, { cache: "no-cache" });
  if (!response.ok) throw new ApiError(response.status, "ui_manifest", response.statusText);
  return (await response.json()) as UiManifest;
}
