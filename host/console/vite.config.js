// Builds the console from web/ into $BERTH_CONSOLE_OUT (set by build.rs),
// served by berth under /console/.
import { defineConfig } from "vite";

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
  },
});
