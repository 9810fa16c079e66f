// The "Sales report" page. The console runs this module in a sandboxed
// frame and calls its default export with the element to render into and
// the context: the org's slug, and `fetch` for the plugin's own routes.
export default async function mount(element, { org, fetch }) {
  const response = await fetch(`/o/${org}/p/sales-widget/summary`);
  const summary = await response.json();
  const heading = document.createElement("h2");
  heading.textContent = `${summary.title}: ${summary.total.toLocaleString("en")} ${summary.currency}`;
  const detail = document.createElement("p");
  detail.textContent = `${summary.deals} deals closed.`;
  element.replaceChildren(heading, detail);
}
