// A plugin's recent log lines, and following new ones as they are written
// (server-sent events read through fetch, with the token).
import { type Session, api, apiStream } from "./api";
import { button, h } from "./dom";

interface LogLine {
  seq: number;
  time_ms: number;
  level: string;
  kind: string;
  message: string;
  fields: Record<string, string>;
}

/** Lines kept on screen. */
const SHOWN = 500;

/** The view's live stream, closed when the view is replaced. */
let following: AbortController | null = null;

/** Stops following any plugin's log. */
export function stopFollowing(): void {
  following?.abort();
  following = null;
}

function lineElement(line: LogLine): HTMLElement {
  const fields = Object.entries(line.fields ?? {}).map(([k, v]) => ` ${k}=${v}`).join("");
  return h(
    "li",
    { "data-seq": String(line.seq), class: `level-${line.level} kind-${line.kind}` },
    h("time", { datetime: new Date(line.time_ms).toISOString() }, new Date(line.time_ms).toLocaleTimeString()),
    ` ${line.level.toUpperCase()} `,
    line.message,
    fields,
  );
}

/** Renders `plugin`'s recent lines into `into`, with a follow switch. */
export async function renderLogs(into: HTMLElement, session: Session, plugin: string): Promise<void> {
  stopFollowing();
  const path = `/plugins/${plugin}/logs`;
  const page = await api<{ lines: LogLine[]; missed: number; next: number }>(session, "GET", `${path}?limit=100`);
  const list = h("ol", { id: "log-lines", class: "log", "aria-live": "polite", "aria-label": `Log lines of ${plugin}` }, ...page.lines.map(lineElement));
  const empty = h("p", { class: "muted" }, "No lines yet.");
  let last = page.next;
  const append = (line: LogLine) => {
    if (line.seq <= last) return;
    last = line.seq;
    empty.remove();
    list.append(lineElement(line));
    while (list.childElementCount > SHOWN) list.firstElementChild!.remove();
    list.scrollTop = list.scrollHeight;
  };
  const state = h("span", { role: "status", id: "follow-state" }, "");
  const toggle = button("Follow", () => (following ? stop() : start()), { "aria-pressed": "false", "data-action": "follow" });
  const stop = () => {
    stopFollowing();
    toggle.textContent = "Follow";
    toggle.setAttribute("aria-pressed", "false");
    state.textContent = "";
  };
  const start = () => {
    const controller = new AbortController();
    following = controller;
    toggle.textContent = "Stop following";
    toggle.setAttribute("aria-pressed", "true");
    state.textContent = "following";
    apiStream(session, `${path}?follow&after=${last}`, controller.signal, (event) => {
      if (event.event === "line" || event.event === "note") append(JSON.parse(event.data) as LogLine);
      else if (event.event === "end") {
        stop();
        state.textContent = "the plugin was uninstalled";
        controller.abort();
      } else if (event.event === "missed") state.textContent = `following (the ring dropped ${(JSON.parse(event.data) as { missed: number }).missed} lines)`;
    })
      .then(() => {
        if (!controller.signal.aborted) {
          stop();
          state.textContent = "the server ended the stream";
        }
      })
      .catch((error: Error) => {
        if (!controller.signal.aborted) {
          stop();
          state.textContent = `stopped: ${error.message}`;
        }
      });
  };
  into.replaceChildren(h("p", { class: "row" }, toggle, state), ...(page.lines.length === 0 ? [empty] : []), list);
}
