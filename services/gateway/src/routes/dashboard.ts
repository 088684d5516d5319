import { type Context, Hono } from "hono";
import type { GatewayEnv } from "../context.ts";
import {
  type BuiltFile,
  chooseEncoding,
  type DashboardBuild,
  dashboardBuild,
  defaultDashboardDir,
  matchesEtag,
} from "../dashboard-build.ts";
import { ApiError } from "../errors.ts";
import { describeOperation } from "../openapi/describe.ts";

/**
 * Only the gateway itself: scripts, styles, images and fetches from 'self', nothing inline, no forms posted
 * anywhere (a page that failed to start cannot send the key field as a query string).
 */
export const dashboardPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// The asset names carry their content's hash: a new build means new names, so a copy never goes stale.
const immutable = "public, max-age=31536000, immutable";

/** The file in the encoding the client prefers, or 304 when its copy of that representation is current. */
function send(c: Context<GatewayEnv>, file: BuiltFile, headers: Record<string, string>) {
  const encoding = chooseEncoding(c.req.header("accept-encoding"), file);
  const { body, etag } = file.encodings[encoding] ?? file.encodings.identity;
  const common = { ...headers, ETag: etag, Vary: "Accept-Encoding", "X-Content-Type-Options": "nosniff" };
  if (matchesEtag(c.req.header("if-none-match"), etag)) return c.body(null, 304, common);
  return c.body(body as Uint8Array<ArrayBuffer>, 200, {
    ...common,
    "Content-Type": file.contentType,
    ...(encoding === "identity" ? {} : { "Content-Encoding": encoding }),
  });
}

const describePage = describeOperation({
  tags: ["Dashboard"],
  summary: "The analysts' and operators' dashboard",
  description:
    "A page built from services/dashboard and served by the gateway alone: it loads nothing from any other host. " +
    "It asks for a read key and calls the read routes with it. 404 when the dashboard is not built.",
  responses: {
    200: { description: "The page.", content: { "text/html": { schema: { type: "string" } } } },
    304: { description: "Not modified: the client's copy (If-None-Match) is current." },
  },
  errors: ["NOT_FOUND"],
});

const describeAsset = describeOperation({
  tags: ["Dashboard"],
  summary: "A file of the dashboard",
  description: "Named by its content hash and cached for a year; gzip or Brotli as Accept-Encoding asks.",
  parameters: [{ in: "path", name: "file", required: true, schema: { type: "string" } }],
  responses: {
    200: { description: "The file (JavaScript, CSS or an image)." },
    304: { description: "Not modified: the client's copy (If-None-Match) is current." },
  },
  errors: ["NOT_FOUND"],
});

/** `/dashboard` and its hashed assets, from the dashboard package's build (services/dashboard/dist). */
export function dashboardRoutes(dir: string = defaultDashboardDir) {
  const build = dashboardBuild(dir);
  // Said once while the build is missing, not once per request: a page left open would fill the log.
  let warned = false;
  const built = (c: Context<GatewayEnv>, current: DashboardBuild) => {
    if (current.kind === "built") {
      warned = false;
      return current;
    }
    if (!warned) c.get("log").warn({ dir: current.dir, hint: current.message }, "dashboard requested but not built");
    warned = true;
    throw new ApiError("NOT_FOUND", current.message);
  };
  return new Hono<GatewayEnv>()
    .get("/dashboard", describePage, async (c) => {
      const { page } = built(c, await build());
      return send(c, page, { "Cache-Control": "no-cache", "Content-Security-Policy": dashboardPolicy });
    })
    .get("/dashboard/assets/:file", describeAsset, async (c) => {
      const name = c.req.param("file");
      // Only names of the build's own files are looked up: nothing a request says reaches the file system.
      const file = built(c, await build()).assets.get(name);
      if (!file) throw new ApiError("NOT_FOUND", `No dashboard file ${name}.`);
      return send(c, file, { "Cache-Control": immutable });
    });
}
