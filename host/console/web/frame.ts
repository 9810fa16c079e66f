// The sandboxed frame a UI plugin's module runs in (frame.html, loaded by
// the console in <iframe sandbox="allow-scripts">: an opaque origin with no
// storage, cookies, network or access to the console). It waits for the
// console's `berth:mount`, imports the plugin's entry module and calls its
// default export `mount(element, context)`. The context's `fetch` asks the
// console for the plugin's own routes; nothing else is reachable.
import "./frame.css";
import type { FetchResponse, FromFrame, Mount, ToFrame } from "./messages";

/** What a plugin module's `mount` receives. */
export interface PluginContext {
  org: string;
  plugin: string;
  data: string | null;
  theme: Record<string, string>;
  /** GET one of the plugin's own routes (`/o/{org}/p/{plugin}/…`) through the console. */
  fetch(url: string): Promise<Response>;
}

const pending = new Map<number, (answer: FetchResponse) => void>();
let nextId = 1;
let mounted = false;

function post(message: FromFrame): void {
  parent.postMessage(message, location.origin);
}

function relayFetch(url: string): Promise<Response> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, (answer) => {
      if (answer.error !== undefined) reject(new TypeError(answer.error));
      else resolve(new Response(answer.body ?? null, { status: answer.status, headers: { "content-type": answer.contentType ?? "" } }));
    });
    post({ type: "berth:fetch", id, url: String(url) });
  });
}

async function mount(message: Mount): Promise<void> {
  for (const [name, value] of Object.entries(message.theme)) {
    document.documentElement.style.setProperty(`--${name}`, value);
  }
  const element = document.getElementById("plugin")!;
  const context: PluginContext = {
    org: message.org,
    plugin: message.plugin,
    data: message.data,
    theme: { ...message.theme },
    fetch: relayFetch,
  };
  try {
    const module = await import(/* @vite-ignore */ message.entry);
    await module.default(element, context);
  } catch (error) {
    element.textContent = `${message.plugin}: ${String(error)}`;
    element.classList.add("failed");
  }
}

window.addEventListener("message", (event: MessageEvent<ToFrame>) => {
  if (event.source !== parent) return;
  const message = event.data;
  if (message?.type === "berth:mount" && !mounted) {
    mounted = true;
    void mount(message);
  } else if (message?.type === "berth:response") {
    pending.get(message.id)?.(message);
    pending.delete(message.id);
  }
});
new ResizeObserver(() => post({ type: "berth:size", height: document.documentElement.scrollHeight })).observe(document.body);
post({ type: "berth:ready" });
