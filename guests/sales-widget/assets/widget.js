// The `sales` dashboard widget. The console imports this module and calls
// its default export with the element to render into and the URL of the
// plugin route that serves the figures.
export default async function mount(element, { data }) {
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
