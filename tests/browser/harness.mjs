// What the browser tests share: their inputs from the environment, headless
// Chromium driven by Playwright (playwright-core from host/console's npm
// dependencies, with Debian's /usr/bin/chromium), and the console steps
// they all take. Every script reads:
//   BERTH_BASE, BERTH_ORG, BERTH_TOKEN   the server and an org-admin token
//   ARTIFACTS                            where screenshots go
//   CONSOLE_DIR, CHROMIUM                where playwright-core and chromium are
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** The environment variable `name`; throws if it is not set. */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** Throws `message` unless `condition` holds. */
export function expect(condition, message) {
  if (!condition) throw new Error(`expectation failed: ${message}`);
}

export const base = env("BERTH_BASE");
export const org = env("BERTH_ORG");
export const token = env("BERTH_TOKEN");
const artifacts = env("ARTIFACTS");
mkdirSync(artifacts, { recursive: true });

/** Runs `test(browser)` in a fresh headless Chromium, closed afterwards. */
export async function withBrowser(test) {
  const require = createRequire(join(env("CONSOLE_DIR"), "package.json"));
  const { chromium } = require("playwright-core");
  const browser = await chromium.launch({
    executablePath: env("CHROMIUM"),
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    await test(browser);
  } catch (error) {
    for (const [index, page] of pages.entries()) {
      await shot(page, `failure-${index}`).catch(() => {});
      const line = await page.textContent("#status").catch(() => null);
      if (line) console.error(`status line of page ${index}: ${line}`);
    }
    throw error;
  } finally {
    await browser.close();
  }
}

/** Pages to screenshot, with the status line, if a test fails. */
const pages = [];

/** A new page of `context` whose uncaught errors land in `page.errors`. */
export async function newPage(context) {
  const page = await context.newPage();
  pages.push(page);
  page.setDefaultTimeout(15000);
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(String(error)));
  return page;
}

/** Saves a full-page screenshot of `page` as `name`.png among the artifacts. */
export function shot(page, name) {
  return page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** Opens the console on `page` and signs in with the org-admin token. */
export async function signIn(page) {
  await page.goto(`${base}/console/`);
  await page.fill("#org", org);
  await page.fill("#token", token);
  await page.click('#sign-in button[type="submit"]');
  await page.waitForSelector('[data-slot="dashboard.widgets"]', { state: "attached" });
}

/** The frame `plugin`'s component runs in on the dashboard. */
export function widgetFrame(page, plugin) {
  return page.frameLocator(`[data-slot="dashboard.widgets"] [data-plugin="${plugin}"] iframe`);
}

/** Waits for the sales widget's total on the dashboard and returns it. */
export async function salesTotal(page) {
  const total = widgetFrame(page, "sales-widget").locator(".sales-total");
  await total.waitFor();
  return total.textContent();
}
