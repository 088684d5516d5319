import { createHash } from "node:crypto";
import { type Context, Hono } from "hono";
import * as v from "valibot";
import type { GatewayEnv } from "../context.ts";
import { ApiError } from "../errors.ts";
import { describeOperation } from "../openapi/describe.ts";
import { type DocsAsset, docsAssetNames, docsPage, docsPolicy, loadDocsAssets } from "../openapi/docs-page.ts";
import { buildDocument } from "../openapi/document.ts";

/** Built once, on first use; a failed build is tried again by the next request. */
function once<T>(build: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= build().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}

/** The body with its ETag and cache policy, or 304 when the client's copy is current. */
function cached(c: Context<GatewayEnv>, asset: DocsAsset, cacheControl: string) {
  const headers = { ETag: asset.etag, "Cache-Control": cacheControl, "X-Content-Type-Options": "nosniff" };
  if (c.req.header("if-none-match") === asset.etag) return c.body(null, 304, headers);
  return c.body(asset.body as Uint8Array<ArrayBuffer>, 200, { ...headers, "Content-Type": asset.contentType });
}

const describeDocument = describeOperation({
  tags: ["Reference"],
  summary: "This OpenAPI 3.1 document",
  description: "Generated from the schemas that validate requests and type responses.",
  responses: {
    200: { description: "The document.", content: { "application/json": { schema: { type: "object" } } } },
  },
});

const describeDocs = describeOperation({
  tags: ["Reference"],
  summary: "The interactive API reference",
  description: "Swagger UI, served by the gateway itself: the page loads nothing from any other host.",
  responses: { 200: { description: "The page.", content: { "text/html": { schema: { type: "string" } } } } },
});

const describeAsset = describeOperation({
  tags: ["Reference"],
  summary: "A file of the docs page",
  parameters: [{ in: "path", name: "file", required: true, schema: { type: "string", enum: [...docsAssetNames] } }],
  responses: {
    200: { description: "The file (CSS, JavaScript or an icon)." },
    304: { description: "Not modified: the client's copy (If-None-Match) is current." },
  },
  errors: ["NOT_FOUND"],
});

/** `/openapi.json` and `/docs`, generated from the finished app's routes on first request. */
export function referenceRoutes(app: Hono<GatewayEnv>) {
  const documentFile = once(async () => {
    const body = new TextEncoder().encode(JSON.stringify(await buildDocument(app)));
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    return { body, etag, contentType: "application/json; charset=utf-8" };
  });
  const assets = once(loadDocsAssets);
  const fileName = v.picklist(docsAssetNames);
  return new Hono<GatewayEnv>()
    .get("/openapi.json", describeDocument, async (c) => cached(c, await documentFile(), "no-cache"))
    .get("/docs", describeDocs, (c) =>
      c.html(docsPage, 200, { "Cache-Control": "no-cache", "Content-Security-Policy": docsPolicy }),
    )
    .get("/docs/assets/:file", describeAsset, async (c) => {
      const name = c.req.param("file");
      const asset = v.is(fileName, name) ? (await assets()).get(name) : undefined;
      if (!asset) throw new ApiError("NOT_FOUND", `No docs file ${name}.`);
      // The names are not versioned: a day, then revalidated by ETag.
      return cached(c, asset, "public, max-age=86400");
    });
}
