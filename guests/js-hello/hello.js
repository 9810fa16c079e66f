// `js-hello`: the JavaScript twin of the Rust `hello` guest. StarlingMonkey
// (inside componentize-js) turns this fetch-event handler into an export of
// `wasi:http/incoming-handler`.
//
// - `GET /` → `Hello from JavaScript!`
// - `GET /echo/{param}` → `{"param":…,"path":…}` (JSON)
addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const path = url.pathname + url.search;
  if (url.pathname.startsWith("/echo/")) {
    const param = url.pathname.slice("/echo/".length);
    const body = JSON.stringify({ param, path });
    event.respondWith(new Response(body, { headers: { "content-type": "application/json" } }));
  } else if (url.pathname === "/") {
    event.respondWith(new Response("Hello from JavaScript!\n", { headers: { "content-type": "text/plain" } }));
  } else {
    event.respondWith(new Response("not found\n", { status: 404 }));
  }
});
