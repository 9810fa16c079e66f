// Mounting plugin code: every slot component and page runs in its own
// sandboxed iframe (frame.html, `sandbox="allow-scripts"`, no
// allow-same-origin), never in the console's page. The console talks to it
// only through the messages in messages.ts: it sends what to mount and the
// theme, answers GETs of the plugin's own routes, and sizes the frame. The
// token never leaves this page.
import type { FetchRequest, FetchResponse, FromFrame, Mount } from "./messages";

/** What a frame is told about its plugin. */
export interface MountTarget {
  org: string;
  plugin: string;
  /** URL of the plugin's entry module. */
  entry: string;
  /** URL of the plugin route a slot component reads its data from. */
  data: string | null;
}

/** Tallest a frame may grow, in CSS pixels. */
const MAX_HEIGHT = 4000;

interface Frame {
  element: HTMLIFrameElement;
  mount: Mount;
}

const frames = new Set<Frame>();

/** Percent-escapes of `.`, `/` and `\`, and backslashes: never in a plugin's own URLs. */
const DISGUISED = /%2e|%2f|%5c|\\/i;

/** The URL to GET for `frame`'s request, if it names one of its plugin's routes. */
function pluginRoute(frame: Frame, requested: string): URL | null {
  if (DISGUISED.test(requested)) return null;
  let url: URL;
  try {
    url = new URL(requested, location.origin);
  } catch {
    return null;
  }
  const prefix = `/o/${frame.mount.org}/p/${frame.mount.plugin}`;
  const own = url.pathname === prefix || url.pathname.startsWith(`${prefix}/`);
  return url.origin === location.origin && own && url.username === "" && url.password === "" ? url : null;
}

/** GETs a plugin route for a frame: no credentials, no redirects. */
async function relay(frame: Frame, request: FetchRequest): Promise<FetchResponse> {
  const url = pluginRoute(frame, request.url);
  if (!url) return { type: "berth:response", id: request.id, error: `not a route of plugin ${frame.mount.plugin}` };
  try {
    const response = await fetch(url, { credentials: "omit", redirect: "error", cache: "no-store" });
    const body = await response.arrayBuffer();
    const contentType = response.headers.get("content-type") ?? "";
    return { type: "berth:response", id: request.id, status: response.status, contentType, body };
  } catch (error) {
    return { type: "berth:response", id: request.id, error: String(error) };
  }
}

function onMessage(event: MessageEvent<FromFrame>): void {
  // Frames are created and inserted in one task, so any frame out of the
  // document when a message arrives has been removed for good.
  for (const frame of frames) if (!frame.element.isConnected) frames.delete(frame);
  const source = event.source as Window | null;
  const frame = [...frames].find((f) => source !== null && f.element.contentWindow === source);
  if (!frame || !source) return;
  const message = event.data;
  if (message?.type === "berth:ready") {
    source.postMessage(frame.mount, "*");
  } else if (message?.type === "berth:fetch" && Number.isSafeInteger(message.id)) {
    void relay(frame, message).then((answer) => source.postMessage(answer, "*", answer.body ? [answer.body] : []));
  } else if (message?.type === "berth:size" && Number.isFinite(message.height)) {
    frame.element.style.height = `${Math.min(Math.max(Math.ceil(message.height), 0), MAX_HEIGHT)}px`;
  }
}

window.addEventListener("message", onMessage);

/** Renders `target`'s module in a sandboxed frame inside `container`, with `theme`. */
export function mountFrame(container: HTMLElement, target: MountTarget, theme: Record<string, string>): void {
  const element = document.createElement("iframe");
  element.setAttribute("sandbox", "allow-scripts");
  element.setAttribute("referrerpolicy", "no-referrer");
  element.setAttribute("title", `${target.plugin} plugin`);
  element.className = "plugin-frame";
  element.src = `/console/frame.html?org=${encodeURIComponent(target.org)}`;
  container.replaceChildren(element);
  frames.add({ element, mount: { type: "berth:mount", ...target, theme } });
}
