// Browser test of the web console in headless Chromium (see harness.mjs),
// run by tests/e2e/console.rs against a real berth on loopback. Besides
// harness.mjs's inputs it reads WIDGET_ZIP and THEME_ZIP, the sales-widget
// and dark-theme packages. Exits non-zero (with the reason) on the first
// expectation that fails.
import { checkAccessibility } from "./a11y.mjs";
import { env, expect, newPage, salesTotal, shot as save, signIn, widgetFrame, withBrowser } from "./harness.mjs";

await withBrowser(async (browser) => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await newPage(context);
  const errors = page.errors;
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("response", (response) => {
    if (response.status() >= 400) errors.push(`${response.status()} ${response.url()}`);
  });
  const shot = (name) => save(page, name);
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
    await page.click('dialog.consent[open] button[data-action="consent"]');
    await page.waitForSelector(row(name, "active"));
  };
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);

  // Sign in with the org-admin token.
  await signIn(page);
  await shot("01-signed-in");

  // Upload and activate the widget plugin; its widget renders with its data.
  await plugins();
  await install(env("WIDGET_ZIP"), "sales-widget");
  await shot("02-widget-installed");
  await page.click('a[href="#/"]');
  const total = await salesTotal(page);
  expect(total === "48,250 EUR", `widget shows ${total}`);
  await shot("03-dashboard-widget");

  // The plugin's page is mounted under the console, in its own frame.
  await page.click('a[data-page="sales-widget/report"]');
  const report = page.frameLocator('section[data-page="sales-widget/report"] iframe').locator("h2");
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
  // The widget's frame gets the theme's tokens too.
  await salesTotal(page);
  const widgetColor = await widgetFrame(page, "sales-widget")
    .locator("body")
    .evaluate((body) => getComputedStyle(body).color);
  expect(widgetColor === "rgb(230, 237, 243)", `widget text is ${widgetColor}`);
  await checkAccessibility(page, "the dashboard in the dark theme");
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
});
