// A plugin's traffic over the last hour — requests, errors, p99 latency
// and guest CPU per minute — as small uPlot charts in the theme's colours,
// each with its figures in words for screen readers.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { type Session, api } from "./api";
import { button, h } from "./dom";

/** One minute of `GET …/plugins/{name}/usage`. */
interface Minute {
  start: number;
  requests: number;
  errors: number;
  p99_ms: number | null;
  cpu_ms: number;
}

interface Usage {
  plugin: string;
  minute_seconds: number;
  minutes: Minute[];
}

interface Series {
  id: string;
  title: string;
  unit: string;
  value: (m: Minute) => number | null;
  /** A summary of the hour, in words. */
  summary: (minutes: Minute[]) => string;
}

const sum = (minutes: Minute[], f: (m: Minute) => number) => minutes.reduce((total, m) => total + f(m), 0);

const SERIES: Series[] = [
  { id: "requests", title: "Requests", unit: "per minute", value: (m) => m.requests, summary: (ms) => `${sum(ms, (m) => m.requests)} in the last hour` },
  { id: "errors", title: "Errors (5xx)", unit: "per minute", value: (m) => m.errors, summary: (ms) => `${sum(ms, (m) => m.errors)} in the last hour` },
  {
    id: "p99",
    title: "p99 latency",
    unit: "ms",
    value: (m) => m.p99_ms,
    summary: (ms) => {
      const worst = Math.max(0, ...ms.map((m) => m.p99_ms ?? 0));
      return worst ? `at most ${worst.toFixed(2)} ms in any minute` : "no requests";
    },
  },
  { id: "cpu", title: "CPU", unit: "ms per minute", value: (m) => m.cpu_ms, summary: (ms) => `${sum(ms, (m) => m.cpu_ms).toFixed(1)} ms in the last hour` },
];

/** The charts on screen, destroyed before the view is drawn again. */
let charts: uPlot[] = [];

/** Destroys the charts on screen (their listeners go with them). */
export function destroyCharts(): void {
  for (const chart of charts) chart.destroy();
  charts = [];
}

/** A theme token's current value. */
function token(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim();
}

function chart(usage: Usage, series: Series, width: number): HTMLElement {
  const caption = h("figcaption", {}, h("strong", {}, series.title), ` (${series.unit}): `, h("span", { "data-summary": series.id }, series.summary(usage.minutes)));
  const plot = h("div", { class: "plot", role: "img", "aria-label": `${series.title}, ${series.summary(usage.minutes)}` });
  const figure = h("figure", { class: "usage-chart", "data-series": series.id }, caption, plot);
  const fg = token("color-fg");
  const grid = token("color-border");
  const accent = token("color-accent");
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const data: uPlot.AlignedData = [usage.minutes.map((m) => m.start), usage.minutes.map(series.value)];
  const chart = new uPlot(
    {
      width,
      height: 140,
      legend: { show: false },
      cursor: { show: true, drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max ?? 1)] } },
      axes: [axis, { ...axis, size: 48 }],
      series: [{}, { label: series.title, stroke: accent, fill: /^#[0-9a-f]{6}$/i.test(accent) ? `${accent}33` : undefined, width: 2, points: { show: true, size: 5 } }],
    },
    data,
    plot,
  );
  charts.push(chart);
  return figure;
}

/** Renders `plugin`'s last hour into `into`, with a refresh button. */
export async function renderUsage(into: HTMLElement, session: Session, plugin: string): Promise<void> {
  const usage = await api<Usage>(session, "GET", `/plugins/${plugin}/usage`);
  destroyCharts();
  const width = Math.max(240, Math.min(420, into.clientWidth - 24));
  const refresh = button("Refresh", () => void renderUsage(into, session, plugin), { "data-action": "refresh-usage" });
  into.replaceChildren(
    h("p", { class: "row" }, refresh, h("span", { class: "muted" }, "Per minute, as this server saw it (each node counts its own; restarts start afresh).")),
    h("div", { class: "charts", id: "usage" }, ...SERIES.map((series) => chart(usage, series, width))),
  );
}
