import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** A file the docs page loads, with what its answer says. */
export interface DocsAsset {
  body: Uint8Array;
  contentType: string;
  etag: string;
}

// Swagger UI's own initializer points at a petstore on the internet and shows a badge from an online
// validator; this one reads our document and turns the validator off, so the page asks no other host.
const initializer = `window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#reference",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
`;

export const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>evpipe gateway API reference</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="reference"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs.js"></script>
</body>
</html>
`;

/** Only the gateway itself: a browser refuses anything the page might try to load from elsewhere. */
export const docsPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const fromPackage = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
} as const;

export const docsAssetNames = [...Object.keys(fromPackage), "docs.js"] as const;

const asset = (body: Uint8Array, contentType: string): DocsAsset => ({
  body,
  contentType,
  etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
});

/** Reads swagger-ui-dist's files once, from the installed package. */
export async function loadDocsAssets(): Promise<Map<string, DocsAsset>> {
  const root = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const assets = new Map<string, DocsAsset>();
  for (const [name, contentType] of Object.entries(fromPackage)) {
    assets.set(name, asset(await readFile(join(root, name)), contentType));
  }
  assets.set("docs.js", asset(new TextEncoder().encode(initializer), "text/javascript; charset=utf-8"));
  return assets;
}
