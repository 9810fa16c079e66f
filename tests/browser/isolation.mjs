// Browser test of tenant isolation, run by tests/e2e/console.rs against a
// berth whose org (harness.mjs's inputs) has sales-widget, the hostile UI
// plugin hostile-widget and the hostile route plugin hostile-page active.
// The console signs in; the good widget must render; everything the hostile
// widget (in its sandboxed frame) and the hostile page (opened beside the
// console) try — the console's storage, cookies and token, the management
// API, a service worker, a location hash that walks the console's token to
// a tenant's route — must fail. To show the sandbox, not an empty
// origin, stops them, the test first plants bait on the origin: the token
// itself in localStorage and a cookie. Exits non-zero on the first failure.
import { base, expect, newPage, org, salesTotal, shot, signIn, token, widgetFrame, withBrowser } from "./harness.mjs";

/** Reads the JSON a hostile plugin wrote into `locator` and checks every attempt was blocked. */
async function everyAttemptBlocked(locator, who) {
  await locator.waitFor({ state: "attached" });
  const results = JSON.parse(await locator.textContent());
  const { given, token: found, ...attempts } = results;
  expect(Object.keys(attempts).length >= 6, `${who} reported ${JSON.stringify(results)}`);
  for (const [name, outcome] of Object.entries(attempts)) {
    expect(outcome.startsWith("blocked: "), `${who}: ${name} ${outcome}`);
  }
  expect(!JSON.stringify(results).includes(token), `${who} saw the token: ${JSON.stringify(results)}`);
  expect(found === undefined || found === "none found", `${who} found a token: ${found}`);
  if (given !== undefined) expect(!given.includes("berth_"), `${who} was given ${given}`);
  return results;
}

/** Puts the token in the origin's localStorage and sets a cookie (or removes both). */
function bait(page, planted) {
  return page.evaluate(
    ([planted, token]) => {
      if (planted) localStorage.setItem("berth-bait", token);
      else localStorage.removeItem("berth-bait");
      document.cookie = planted ? "berth_bait=1; path=/" : "berth_bait=; max-age=0; path=/";
    },
    [planted, token],
  );
}

/** What the console's origin holds: storage, cookies, service workers. */
function originState(page) {
  return page.evaluate(async () => ({
    session: sessionStorage.length,
    local: localStorage.length,
    cookie: document.cookie,
    workers: (await navigator.serviceWorker.getRegistrations()).length,
  }));
}

await withBrowser(async (browser) => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const console_ = await newPage(context);
  await signIn(console_);
  expect((await console_.evaluate(() => localStorage.length + sessionStorage.length)) === 0, "the console stores nothing");
  await bait(console_, true);
  await console_.click('a[href="#/plugins"]');
  await console_.waitForSelector("#plugins");
  await console_.click('a[href="#/"]');

  // The good widget renders beside the hostile one.
  expect((await salesTotal(console_)) === "48,250 EUR", "the sales widget renders");
  const probe = widgetFrame(console_, "hostile-widget").locator("#probe-results[data-done]");
  const widget = await everyAttemptBlocked(probe, "hostile widget");
  expect(widget.relayOtherPlugin.startsWith("blocked: "), "the relay serves only the plugin's own routes");
  await shot(console_, "10-hostile-widget");

  // The hostile page, opened beside the signed-in console.
  const hostile = await newPage(context);
  const response = await hostile.goto(`${base}/o/${org}/p/hostile-page/`);
  const headers = await response.allHeaders();
  for (const name of ["set-cookie", "set-cookie2", "service-worker-allowed", "clear-site-data", "nel", "report-to", "strict-transport-security", "alt-svc"]) {
    expect(headers[name] === undefined, `the page's ${name} reached the browser: ${headers[name]}`);
  }
  expect(/sandbox allow-scripts/.test(headers["content-security-policy"]), `CSP: ${headers["content-security-policy"]}`);
  expect(headers["x-content-type-options"] === "nosniff", `nosniff: ${headers["x-content-type-options"]}`);
  await everyAttemptBlocked(hostile.locator("#results[data-done]"), "hostile page");
  await shot(hostile, "11-hostile-page");
  await bait(console_, false);

  // The origin holds nothing of theirs and nothing of the console's, and
  // the console is still signed in (its token, in memory, still works).
  const state = await originState(console_);
  expect(JSON.stringify(state) === JSON.stringify({ session: 0, local: 0, cookie: "", workers: 0 }), `origin state ${JSON.stringify(state)}`);
  expect((await context.cookies()).length === 0, `cookies: ${JSON.stringify(await context.cookies())}`);
  expect(context.serviceWorkers().length === 0, "no service worker runs");
  await console_.click('a[href="#/plugins"]');
  await console_.waitForSelector('tr[data-plugin="hostile-page"][data-state="active"]');

  // A crafted location hash cannot walk the token out of the org's API: a
  // "plugin name" of `..` segments would otherwise have the console fetch
  // a tenant's route with the token attached.
  const sentWithToken = [];
  console_.on("request", (request) => {
    if (request.headers().authorization) sentWithToken.push(new URL(request.url()).pathname);
  });
  const walk = encodeURIComponent(`../../../../../o/${org}/p/hostile-page/`);
  await console_.evaluate((hash) => (location.hash = hash), `#/plugins/${walk}`);
  await console_.waitForFunction(() => document.getElementById("status")?.textContent?.includes("no plugin is named"));
  const outside = sentWithToken.filter((path) => !path.startsWith(`/api/v1/orgs/${org}/`));
  expect(outside.length === 0, `the token went to ${outside.join(", ")}`);

  // A reload forgets the token: the console asks again.
  await console_.reload();
  await console_.waitForSelector("#sign-in");
  await shot(console_, "12-reloaded");

  for (const page of [console_, hostile]) expect(page.errors.length === 0, `page errors: ${page.errors.join(" | ")}`);
  console.log("isolation browser test passed");
});
