// The "Sales report" page. The console imports this module and calls its
// default export with the element to render into and the org's slug.
export default async function mount(element, { org }) {
  const response = await fetch(`/o/${org}/p/sales-widget/summary`);
  const summary = await response.json();
  const heading = document.createElement("h2");
  heading.textContent = `${summary.title}: ${summary.total.toLocaleString("en")} ${summary.currency}`;
  const detail = document.createElement("p");
  detail.textContent = `${summary.deals} deals closed.`;
  element.replaceChildren(heading, detail);
}
