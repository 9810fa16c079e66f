// Browser test of the console's org administration in headless Chromium (see
// harness.mjs), run by tests/e2e/console.rs against a real berth on loopback
// that may reach a local stand-in for a webhook service. Besides
// harness.mjs's inputs it reads:
//   HELLO_ZIP, HELLO_UPGRADE_ZIP   hello 0.1.0 declaring more than it uses, and
//                                  0.2.0 adding a host and dropping a setting
//   WEBHOOK_ZIP, UPSTREAM_URL      the webhook connector, and where it posts
//   SECRET                         the API key the settings form sets
// Each area is checked with axe-core (no serious or critical violation),
// screenshotted, and finally checked at 375 px wide.
import { checkAccessibility } from "./a11y.mjs";
import { base, env, expect, newPage, org, shot as save, signIn, withBrowser } from "./harness.mjs";

await withBrowser(async (browser) => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await newPage(context);
  const errors = page.errors;
  page.on("console", (message) => {
    // Failed loads are judged by the response listener below.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) errors.push(message.text());
  });
  const expectedFailures = [];
  page.on("response", (response) => {
    if (response.status() < 400) return;
    const expected = expectedFailures.findIndex((e) => response.url().includes(e.path) && response.status() === e.status);
    if (expected >= 0) expectedFailures.splice(expected, 1);
    else errors.push(`${response.status()} ${response.url()}`);
  });
  /** Lets the next `status` answer from a URL containing `path` through. */
  const willFail = (path, status) => expectedFailures.push({ path, status });
  const shot = (name) => save(page, name);
  const a11y = (where) => checkAccessibility(page, where);
  const go = async (hash, ready) => {
    await page.click(`a[href="${hash}"]`);
    await page.waitForSelector(ready);
  };
  const row = (name, state) => `tr[data-plugin="${name}"][data-state="${state}"]`;
  const upload = async (zip) => {
    await page.setInputFiles("#upload", zip);
    await page.click('#install button[type="submit"]');
  };
  const dialog = "dialog.consent[open]";
  const sentences = (section) => page.locator(`${dialog} [data-section="${section}"] [data-permission]`).evaluateAll((els) => els.map((e) => e.dataset.permission));

  await signIn(page);
  await a11y("the dashboard");

  // Consent in words, narrowed by keyboard: hello asks to write its data, which it does not need.
  await go("#/plugins", "#plugins");
  await upload(env("HELLO_ZIP"));
  await page.waitForSelector(row("hello", "installed"));
  await a11y("the plugin list");
  await page.focus(`${row("hello", "installed")} button[data-action="activate"]`);
  await page.keyboard.press("Enter");
  await page.waitForSelector(dialog);
  const asked = await page.locator(`${dialog} label`).allTextContents();
  for (const words of ["Answer web requests on all of its paths", "Read its own data", "Write its own data", "Read the setting greeting"]) {
    expect(asked.includes(words), `consent lists "${words}": ${asked.join(" | ")}`);
  }
  await page.focus(`${dialog} input[data-permission="storage:write"]`);
  await page.keyboard.press("Space");
  expect(!(await page.isChecked(`${dialog} input[data-permission="storage:write"]`)), "storage write unticked");
  await a11y("the consent dialog");
  await shot("21-consent-narrowed");
  await page.click(`${dialog} button[data-action="consent"]`);
  await page.waitForSelector(row("hello", "active"));
  expect((await page.getAttribute(`${row("hello", "active")} li[data-permission="storage:write"]`, "data-granted")) === "false", "write shown as not granted");
  expect((await page.getAttribute(`${row("hello", "active")} li[data-permission="storage:read"]`, "data-granted")) === "true", "read shown as granted");

  // An upgrade shows what is new and what is gone before consent.
  await upload(env("HELLO_UPGRADE_ZIP"));
  await page.waitForSelector(dialog);
  expect(JSON.stringify(await sentences("New in this version")) === JSON.stringify(["network:api.example.com"]), "new: the host");
  expect(JSON.stringify(await sentences("No longer asked for")) === JSON.stringify(["config:greeting"]), "gone: the setting");
  const kept = await sentences("Unchanged");
  expect(["routes:/", "storage:read", "storage:write"].every((key) => kept.includes(key)), `unchanged: ${kept}`);
  expect(!(await page.isChecked(`${dialog} input[data-permission="storage:write"]`)), "writing stays refused");
  expect(await page.isChecked(`${dialog} input[data-permission="storage:read"]`), "reading stays granted");
  await a11y("the upgrade dialog");
  await shot("22-upgrade-difference");
  await page.click(`${dialog} button[data-action="consent"]`);
  await page.waitForSelector('tr[data-plugin="hello"][data-state="active"][data-version="0.2.0"]');

  // The connector's settings form: field errors as the API reports them, then a write-only secret.
  await upload(env("WEBHOOK_ZIP"));
  await page.waitForSelector(row("webhook", "installed"));
  // Escape cancels the consent dialog, and nothing is activated.
  await page.click(`${row("webhook", "installed")} button[data-action="activate"]`);
  await page.waitForSelector(dialog);
  await page.keyboard.press("Escape");
  await page.waitForSelector("dialog.consent", { state: "detached" });
  expect(await page.isVisible(row("webhook", "installed")), "still installed, not active");
  await page.click(`${row("webhook", "installed")} button[data-action="activate"]`);
  await page.click(`${dialog} button[data-action="consent"]`);
  await page.waitForSelector(row("webhook", "active"));
  await page.click(`${row("webhook", "active")} a[href="#/plugins/webhook"]`);
  await page.waitForSelector("#config-form");
  expect((await page.textContent('[data-secret="api-key"]')) === "not set", "secret not set yet");
  await page.fill('#config-form [name="url"]', "ftp://elsewhere");
  await page.fill('#config-form [name="api-key"]', "short");
  willFail("/plugins/webhook/config", 422);
  await page.click('#config-form button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('#config-form [data-field="url"]')?.textContent !== "");
  const urlError = await page.textContent('#config-form [data-field="url"]');
  const keyError = await page.textContent('#config-form [data-field="api-key"]');
  // The server's own words for each field.
  expect(urlError.includes("pattern") && keyError.includes("at least 8 characters"), `field errors: ${urlError} / ${keyError}`);
  expect((await page.getAttribute('#config-form [name="url"]', "aria-invalid")) === "true", "url marked invalid");
  await a11y("the settings form with errors");
  await shot("23-config-field-errors");
  await page.fill('#config-form [name="url"]', env("UPSTREAM_URL"));
  await page.fill('#config-form [name="api-key"]', env("SECRET"));
  await page.click('#config-form button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('[data-secret="api-key"]')?.textContent === "set");
  expect((await page.inputValue('#config-form [name="api-key"]')) === "", "the secret is never shown");
  expect((await page.inputValue('#config-form [name="url"]')) === env("UPSTREAM_URL"), "the url is kept");
  const values = await page.locator("input, textarea").evaluateAll((inputs) => inputs.map((i) => i.value));
  expect(!values.includes(env("SECRET")) && !(await page.content()).includes(env("SECRET")), "the secret is nowhere in the page");
  await shot("24-config-saved");

  // Running an integration action shows its output, and its error.
  await go("#/integrations", '[data-connector="webhook"]');
  const send = 'form[data-plugin="webhook"][data-action-name="send"]';
  await page.fill(`${send} [name="message"]`, "hello from the console");
  await page.click(`${send} button[type="submit"]`);
  await page.waitForSelector(`${send} [data-output]`);
  expect(JSON.parse(await page.textContent(`${send} [data-output]`)).status === 200, "the action's output");
  await a11y("the integrations page");
  await shot("25-integration-output");
  await page.fill(`${send} [name="message"]`, "");
  willFail("/integrations/webhook/actions/send", 422);
  await page.click(`${send} button[type="submit"]`);
  await page.waitForSelector(`${send} [data-error]`);
  expect((await page.textContent(`${send} [data-error]`)).startsWith("invalid_input"), "the action's error");
  expect((await page.textContent(`${send} [data-field="message"]`)).includes("is required"), "the field's problem");

  // The plugin's log, followed: a new request's line arrives without reloading.
  await go("#/plugins", "#plugins");
  await page.click('tr[data-plugin="hello"] a[href="#/plugins/hello"]');
  await page.waitForSelector("#log-lines", { state: "attached" });
  await page.click('button[data-action="follow"]');
  await page.waitForSelector("#follow-state:text('following')");
  const before = await page.locator("#log-lines li").count();
  for (let i = 0; i < 5; i++) expect((await fetch(`${base}/o/${org}/p/hello/`)).ok, "hello answers");
  await page.waitForFunction((n) => document.querySelectorAll("#log-lines li").length >= n + 5, before);
  expect((await page.locator("#log-lines li").last().textContent()).includes("hello:"), "the new line is hello's");
  await a11y("the plugin page");
  await shot("26-logs-follow");

  // Traffic charts: the requests just made, drawn by uPlot.
  await page.click('button[data-action="refresh-usage"]');
  await page.waitForSelector('.usage-chart[data-series="cpu"] canvas');
  // The charts drawn when the page opened may still show until the
  // refreshed figures arrive: wait for them.
  await page.waitForFunction(
    () => Number(document.querySelector('[data-summary="requests"]')?.textContent.split(" ")[0]) >= 5,
  );
  expect((await page.locator(".usage-chart canvas").count()) >= 4, "four charts drawn");
  const requests = Number((await page.textContent('[data-summary="requests"]')).split(" ")[0]);
  expect(requests >= 5, `requests counted: ${requests}`);
  await page.locator("#traffic").scrollIntoViewIfNeeded();
  await shot("27-usage-charts");

  // Tokens: created and shown once, copied, then revoked (and refused after).
  await go("#/org", 'button[data-action="create-token"]');
  await page.click('button[data-action="create-token"]');
  await page.waitForSelector("#new-token");
  const created = await page.inputValue("#new-token");
  expect(created.startsWith("berth_"), "a token is shown once");
  await page.click('button[data-action="copy-token"]');
  await page.waitForSelector(".once .copied:text('copied')");
  expect((await page.evaluate(() => navigator.clipboard.readText())) === created, "copied to the clipboard");
  const id = await page.getAttribute(".once", "data-token-id");
  expect(await page.isVisible(`tr[data-token="${id}"]`), "listed");
  const signing = await page.getAttribute("#signature-policy", "data-locked");
  expect(signing === "true" && (await page.isDisabled("#require-signature")), "the locked policy is read-only");
  await a11y("tokens and keys");
  await shot("28-tokens-and-keys");
  await page.click(`tr[data-token="${id}"] button[data-action="revoke-token"]`);
  await page.waitForSelector(`tr[data-token="${id}"]`, { state: "detached" });
  willFail(`/api/v1/orgs/${org}/plugins`, 401);
  const refused = await page.evaluate(async ([url, token]) => (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status, [`${base}/api/v1/orgs/${org}/plugins`, created]);
  expect(refused === 401, `the revoked token is refused: ${refused}`);

  // The audit log, paged and filtered by plugin.
  await go("#/audit", "#audit");
  expect((await page.locator("#audit tbody tr").count()) === 25, "a full first page");
  await page.click('button[data-action="audit-later"]');
  await page.waitForFunction(() => document.querySelector(".pager span")?.textContent === "Page 2");
  await page.fill("#audit-plugin", "webhook");
  await page.click('#audit-filter button[type="submit"]');
  await page.waitForFunction(() => document.querySelector("#audit-plugin")?.value === "webhook" && document.querySelector(".pager span")?.textContent === "Page 1");
  const plugins = await page.locator("#audit tbody tr td:nth-child(4)").allTextContents();
  expect(plugins.length >= 3 && plugins.every((p) => p.startsWith("webhook")), `only webhook's events: ${plugins.join(", ")}`);
  const actions = await page.locator("#audit tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.action));
  expect(actions.includes("configure"), `the configuration is audited: ${actions}`);
  await a11y("the audit log");
  await shot("29-audit");

  // At 375 px wide every view fits without sideways scrolling of the page.
  await page.setViewportSize({ width: 375, height: 800 });
  for (const [hash, ready] of [["#/", '[data-slot="dashboard.widgets"]'], ["#/plugins", "#plugins"], ["#/plugins/webhook", "#config-form"], ["#/integrations", '[data-connector="webhook"]'], ["#/audit", "#audit"], ["#/org", "#signature-policy"]]) {
    await page.evaluate((h) => (location.hash = h), hash);
    await page.waitForSelector(ready, { state: "attached" });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width <= 375, `${hash} is ${width} px wide at 375`);
  }
  await page.evaluate(() => (location.hash = "#/plugins"));
  await page.waitForSelector("#plugins");
  await a11y("the plugin list at 375 px");
  await shot("30-narrow-plugins");

  expect(expectedFailures.length === 0, `expected refusals not seen: ${JSON.stringify(expectedFailures)}`);
  expect(errors.length === 0, `no browser errors, got: ${errors.join(" | ")}`);
  console.log("admin browser test passed");
});
