// The `sales` dashboard widget. The console runs this module in a sandboxed
// frame and calls its default export with the element to render into and
// the context: `data` is the URL of the plugin route serving the figures,
// and `fetch` GETs the plugin's own routes through the console.
export default async function mount(element, { data, fetch }) {
  const response = await fetch(data);
  const summary = await response.json();
  const title = document.createElement("h3");
  title.textContent = summary.title;
  const total = document.createElement("p");
  total.className = "sales-total";
  total.textContent = `${summary.total.toLocaleString("en")} ${summary.currency}`;
  const deals = document.createElement("p");
  deals.className = "sales-deals";
  deals.textContent = `${summary.deals} deals`;
  element.replaceChildren(title, total, deals);
}
