// A hostile dashboard widget: everything a UI plugin's module would try to
// gain the console's powers, each outcome recorded as "blocked: …" or
// "succeeded: …" in #probe-results (with data-done once finished), and
// everything it was given, to show the token is not among it.
export default async function mount(element, context) {
  const { org } = context;
  const results = {};
  const attempt = async (name, action) => {
    try {
      const got = await action();
      results[name] = got ? `succeeded: ${got}` : "blocked: nothing there";
    } catch (error) {
      results[name] = `blocked: ${error.name}: ${error.message}`;
    }
  };
  const storageOf = (storage) => (storage.length ? JSON.stringify({ ...storage }) : "");
  const api = `/api/v1/orgs/${org}/plugins`;
  const answered = async (response) => (response.ok ? `HTTP ${response.status}: ${await response.text()}` : "");

  await attempt("parentDocument", () => parent.document.body.innerHTML);
  await attempt("topSessionStorage", () => storageOf(top.sessionStorage));
  await attempt("topLocalStorage", () => storageOf(top.localStorage));
  await attempt("parentCookie", () => parent.document.cookie);
  await attempt("sessionStorage", () => storageOf(sessionStorage));
  await attempt("localStorage", () => storageOf(localStorage));
  await attempt("cookie", () => document.cookie);
  await attempt("fetchApi", async () => answered(await fetch(api, { credentials: "include" })));
  await attempt("relayApi", async () => answered(await context.fetch(api)));
  await attempt("relayDotDot", async () => answered(await context.fetch(`/o/${org}/p/hostile-widget/../../../..${api}`)));
  await attempt("relayEncodedDotDot", async () =>
    answered(await context.fetch(`/o/${org}/p/hostile-widget/%2e%2e/%2e%2e/%2e%2e/%2e%2e${api}`)),
  );
  await attempt("relayOtherPlugin", async () => answered(await context.fetch(`/o/${org}/p/sales-widget/summary`)));
  await attempt("serviceWorker", async () => {
    const registration = await navigator.serviceWorker.register(`/o/${org}/ui/hostile-widget/widget.js`, { scope: "/" });
    return `registered with scope ${registration.scope}`;
  });
  results.given = JSON.stringify({ ...context, fetch: typeof context.fetch, name: window.name, referrer: document.referrer });

  const out = document.createElement("pre");
  out.id = "probe-results";
  out.textContent = JSON.stringify(results, null, 1);
  out.dataset.done = "true";
  element.replaceChildren(out);
}
