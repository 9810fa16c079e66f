// Mounting plugin code: slot components and pages are ES modules served
// from the plugin's assets; each default-exports `mount(element, context)`.

/** What a plugin module's `mount` receives. */
export interface MountContext {
  org: string;
  plugin: string;
  /** URL of the plugin route a slot component fetches its data from. */
  data: string | null;
}

/** Imports `entry` and mounts it into `element`; shows an error there if it fails. */
export async function mountModule(element: HTMLElement, entry: string, context: MountContext): Promise<void> {
  try {
    const module = await import(/* @vite-ignore */ entry);
    await module.default(element, context);
  } catch (error) {
    element.textContent = `${context.plugin}: ${String(error)}`;
    element.classList.add("failed");
  }
}
