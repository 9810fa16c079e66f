// The messages the console and a sandboxed plugin frame exchange with
// postMessage — the whole interface between UI plugin code and the console
// (documented in the README's "UI plugins" section). No token ever crosses.

/** Frame → console: the frame listens; send `mount`. */
export interface Ready {
  type: "berth:ready";
}

/** Frame → console: GET one of the plugin's own routes for it. */
export interface FetchRequest {
  type: "berth:fetch";
  id: number;
  url: string;
}

/** Frame → console: the height the frame's content needs, in CSS pixels. */
export interface Size {
  type: "berth:size";
  height: number;
}

/** Console → frame, once: what to run and what it gets. */
export interface Mount {
  type: "berth:mount";
  org: string;
  plugin: string;
  /** URL of the plugin's ES module under `/o/{org}/ui/{plugin}/`. */
  entry: string;
  /** URL of the plugin route a slot component reads its data from, if any. */
  data: string | null;
  /** The org's theme tokens (CSS custom property name without `--` → value). */
  theme: Record<string, string>;
}

/** Console → frame: the answer to a `berth:fetch`. */
export interface FetchResponse {
  type: "berth:response";
  id: number;
  status?: number;
  contentType?: string;
  body?: ArrayBuffer;
  /** Why the console did not fetch (the URL is not the plugin's, or the fetch failed). */
  error?: string;
}

/** Any message from a frame. */
export type FromFrame = Ready | FetchRequest | Size;

/** Any message to a frame. */
export type ToFrame = Mount | FetchResponse;
