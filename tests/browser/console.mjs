// Browser test of the web console in headless Chromium, driven by
// Playwright (playwright-core from host/console's npm dependencies, with
// Debian's /usr/bin/chromium). Run by tests/e2e/console.rs against a real
// berth on loopback; every input comes from the environment:
//   BERTH_BASE, BERTH_ORG, BERTH_TOKEN   the server and an org-admin token
//   WIDGET_ZIP, THEME_ZIP                the sales-widget and dark-theme packages
//   ARTIFACTS                            where screenshots go
//   CONSOLE_DIR, CHROMIUM                where playwright-core and chromium are
// Exits non-zero (with the reason) on the first expectation that fails.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("BERTH_BASE");
const artifacts = env("ARTIFACTS");
mkdirSync(artifacts, { recursive: true });
const require = createRequire(join(env("CONSOLE_DIR"), "package.json"));
const { chromium } = require("playwright-core");

function expect(condition, message) {
  if (!condition) throw new Error(`expectation failed: ${message}`);
}

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
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  page.setDefaultTimeout(15000);
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("response", (response) => {
    if (response.status() >= 400) errors.push(`${response.status()} ${response.url()}`);
  });
  const shot = (name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  const plugins = async () => {
    await page.click('a[href="#/plugins"]');
    await page.waitForSelector("#plugins");
  };
  const row = (name, state) => `tr[data-plugin="${name}"][data-state="${state}"]`;
  const install = async (zip, name) => {
    await page.setInputFiles("#upload", zip);
    await page.click('#install button[type="submit"]');
    await page.waitForSelector(row(name, "installed"));
    await page.click(`${row(name, "installed")} button[data-action="activate"]`);
    await page.waitForSelector(row(name, "active"));
  };
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);

  // Sign in with the org-admin token.
  await page.goto(`${base}/console/`);
  await page.fill("#org", env("BERTH_ORG"));
  await page.fill("#token", env("BERTH_TOKEN"));
  await page.click('#sign-in button[type="submit"]');
  await page.waitForSelector('[data-slot="dashboard.widgets"]', { state: "attached" });
  await shot("01-signed-in");

  // Upload and activate the widget plugin; its widget renders with its data.
  await plugins();
  await install(env("WIDGET_ZIP"), "sales-widget");
  await shot("02-widget-installed");
  await page.click('a[href="#/"]');
  const total = page.locator('[data-slot="dashboard.widgets"] [data-plugin="sales-widget"] .sales-total');
  await total.waitFor();
  expect((await total.textContent()) === "48,250 EUR", `widget shows ${await total.textContent()}`);
  await shot("03-dashboard-widget");

  // The plugin's page is mounted under the console.
  await page.click('a[data-page="sales-widget/report"]');
  const report = page.locator('section[data-page="sales-widget/report"] h2');
  await report.waitFor();
  expect((await report.textContent()).includes("48,250 EUR"), "report page shows the total");
  await shot("04-plugin-page");

  // Switching the theme changes the computed style at once.
  const before = await background();
  await plugins();
  await install(env("THEME_ZIP"), "dark-theme");
  await page.click('a[href="#/"]');
  await page.waitForFunction(() => getComputedStyle(document.body).backgroundColor === "rgb(13, 17, 23)");
  const after = await background();
  expect(before !== after, `background changed from ${before} to ${after}`);
  await shot("05-dark-theme");

  // The dependency graph view shows the org's plugins.
  await page.click('a[href="#/dependencies"]');
  await page.waitForSelector('[data-node="sales-widget"]');
  await page.waitForSelector('[data-node="dark-theme"]');
  await shot("06-dependencies");

  // Deactivated, the widget and the page are gone.
  await plugins();
  await page.click(`${row("sales-widget", "active")} button[data-action="deactivate"]`);
  await page.waitForSelector(row("sales-widget", "installed"));
  await page.click('a[href="#/"]');
  await page.waitForSelector('[data-slot="dashboard.widgets"]', { state: "attached" });
  expect((await page.locator('[data-plugin="sales-widget"]').count()) === 0, "widget gone");
  expect((await page.locator('a[data-page="sales-widget/report"]').count()) === 0, "page link gone");
  expect((await background()) === after, "theme still applied");
  await shot("07-widget-deactivated");

  expect(errors.length === 0, `no browser errors, got: ${errors.join(" | ")}`);
  console.log("console browser test passed");
} finally {
  await browser.close();
}
