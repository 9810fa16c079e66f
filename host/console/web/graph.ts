// The org's dependency graph as an SVG: plugins in columns by depth
// (dependencies on the left), an arrow from each dependent to what it needs.
import { api, type Session } from "./api";
import { h } from "./dom";

interface GraphView {
  nodes: { name: string; version: string; state: string }[];
  edges: { from: string; to: string; range: string; optional: boolean; satisfied: boolean }[];
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag: string, attributes: Record<string, string | number>, text?: string): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Renders the dependency graph into `main`. */
export async function renderGraph(main: HTMLElement, session: Session): Promise<void> {
  const graph = await api<GraphView>(session, "GET", "/dependencies");
  const depth = new Map<string, number>();
  const needs = (name: string) => graph.edges.filter((e) => e.from === name).map((e) => e.to);
  const depthOf = (name: string, seen: Set<string>): number => {
    if (depth.has(name)) return depth.get(name)!;
    if (seen.has(name)) return 0;
    seen.add(name);
    const below = needs(name).filter((n) => graph.nodes.some((node) => node.name === n));
    const d = below.length === 0 ? 0 : 1 + Math.max(...below.map((n) => depthOf(n, seen)));
    depth.set(name, d);
    return d;
  };
  graph.nodes.forEach((node) => depthOf(node.name, new Set()));
  const rows = new Map<number, number>();
  const position = new Map<string, { x: number; y: number }>();
  for (const node of graph.nodes) {
    const column = depth.get(node.name) ?? 0;
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    position.set(node.name, { x: 20 + column * 200, y: 20 + row * 60 });
  }
  const width = 240 + 200 * Math.max(0, ...depth.values());
  const height = 40 + 60 * Math.max(1, ...rows.values());
  const picture = svg("svg", { width, height, role: "img", "aria-label": "dependency graph" });
  for (const edge of graph.edges) {
    const from = position.get(edge.from);
    const to = position.get(edge.to);
    if (!from || !to) continue;
    const line = svg("path", {
      class: "edge",
      d: `M ${from.x} ${from.y + 18} L ${to.x + 150} ${to.y + 18}`,
      "stroke-dasharray": edge.optional ? "4 3" : "none",
    });
    line.append(svg("title", {}, `${edge.from} needs ${edge.to} ${edge.range}`));
    picture.append(line);
  }
  for (const node of graph.nodes) {
    const { x, y } = position.get(node.name)!;
    const group = svg("g", { class: `node ${node.state}`, "data-node": node.name });
    group.append(svg("rect", { x, y, width: 150, height: 36, rx: 5 }));
    group.append(svg("text", { x: x + 8, y: y + 22 }, `${node.name} ${node.version}`));
    picture.append(group);
  }
  const list = h("ul", {});
  for (const edge of graph.edges) {
    const mark = edge.satisfied ? "✓" : "✗";
    list.append(h("li", {}, `${edge.from} → ${edge.to} ${edge.range}${edge.optional ? " (optional)" : ""} ${mark}`));
  }
  main.replaceChildren(h("h2", {}, "Dependencies"), h("section", {}, picture, list));
}
