// The management API and the org's UI manifest, for the signed-in org.

/** Who is signed in: an org and one of its admin tokens. */
export interface Session {
  org: string;
  token: string;
}

/** A JSON error answer of berth. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Calls `/api/v1/orgs/{org}{path}` with the session's token. */
export async function api<T>(
  session: Session,
  method: string,
  path: string,
  body?: BodyInit,
  contentType = "application/json",
): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["content-type"] = contentType;
  const response = await fetch(`/api/v1/orgs/${session.org}${path}`, { method, headers, body });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = json?.error ?? { code: "http_error", message: response.statusText };
    throw new ApiError(response.status, error.code, error.message);
  }
  return json as T;
}

/** One installed plugin, as `GET …/plugins` lists it. */
export interface Installation {
  name: string;
  version: string;
  state: string;
  manifest: { description: string; kinds: string[]; permissions?: unknown };
  granted: unknown;
  /** Id of the trusted key that signed the package, if signed. */
  signed_by: string | null;
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
