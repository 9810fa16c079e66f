// Builds the console from web/ into $BERTH_CONSOLE_OUT (set by build.rs),
// served by berth under /console/: the console page, and the sandboxed
// frame page UI plugin code runs in.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const page = (name) => fileURLToPath(new URL(`web/${name}`, import.meta.url));

export default defineConfig({
  root: "web",
  base: "/console/",
  logLevel: "warn",
  build: {
    outDir: process.env.BERTH_CONSOLE_OUT ?? "../dist",
    emptyOutDir: true,
    // Every file is served with a strict CSP: no inline scripts or styles.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    rollupOptions: { input: { index: page("index.html"), frame: page("frame.html") } },
  },
});
