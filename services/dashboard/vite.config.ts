import { defineConfig } from "vite";

// The gateway serves dist/ at /dashboard: index.html revalidated on every load, everything under assets/
// named by its content hash and cached for a year.
export default defineConfig({
  base: "/dashboard/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    // Files, never data: URIs, so the page's CSP can stay at 'self'.
    assetsInlineLimit: 0,
    // One entry chunk: the polyfill would only help browsers without modulepreload.
    modulePreload: { polyfill: false },
    target: "es2022",
  },
  // `pnpm --filter @evpipe/dashboard dev` against a gateway running locally on its default port.
  server: { proxy: { "/v1": "http://127.0.0.1:8080" } },
});
