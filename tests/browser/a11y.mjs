// The accessibility check of the browser tests: axe-core (from host/console's
// npm dependencies) run in the page, failing on any serious or critical
// violation. axe is evaluated through the DevTools protocol, which the
// console's Content-Security-Policy does not govern, so the page under test
// keeps its real CSP.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { env } from "./harness.mjs";

const source = readFileSync(join(env("CONSOLE_DIR"), "node_modules/axe-core/axe.min.js"), "utf8");

/** Impacts that fail the check. */
const FAILING = new Set(["serious", "critical"]);

/** Runs axe-core on `page` as it is now; throws listing every serious or critical violation. */
export async function checkAccessibility(page, where) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  });
  const failing = violations.filter((v) => FAILING.has(v.impact));
  if (failing.length > 0) {
    const lines = failing.map((v) => `${v.impact} ${v.id} (${v.help}): ${v.targets.join(", ")}`);
    throw new Error(`accessibility violations on ${where}:\n${lines.join("\n")}`);
  }
  return violations.length;
}
