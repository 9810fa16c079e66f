// Applies the org's theme: the winning theme plugin's tokens become CSS
// custom properties on :root (set through the CSSOM, which the console's
// Content-Security-Policy allows), replacing the previous theme's.
import type { UiManifest } from "./api";

let applied: string[] = [];

/** Sets `manifest`'s theme tokens on the document, removing stale ones. */
export function applyTheme(manifest: UiManifest): void {
  const root = document.documentElement.style;
  for (const name of applied) root.removeProperty(`--${name}`);
  applied = [];
  const tokens = manifest.theme?.tokens ?? {};
  for (const [name, value] of Object.entries(tokens)) {
    root.setProperty(`--${name}`, value);
    applied.push(name);
  }
  document.documentElement.dataset.theme = manifest.theme?.plugin ?? "default";
}
