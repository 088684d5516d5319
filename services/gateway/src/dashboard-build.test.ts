import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuiltFile, chooseEncoding, loadDashboardBuild, matchesEtag } from "./dashboard-build.ts";
import { ApiError } from "./errors.ts";
import { dashboardRoutes } from "./routes/dashboard.ts";

let root: string;
const script = "console.log('dashboard');\n".repeat(100);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "evpipe-dashboard-"));
  await mkdir(join(root, "built", "assets"), { recursive: true });
  await writeFile(join(root, "built", "index.html"), "<!doctype html><title>t</title>");
  await writeFile(join(root, "built", "assets", "index-AbCd1234.js"), script);
  await writeFile(join(root, "built", "assets", "icon-AbCd1234.png"), Buffer.alloc(2048, 1));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The route on an app with only the envelope of the gateway's error handler; `warnings` collects its log's warn lines. */
function appServing(dir: string, warnings: unknown[][] = []) {
  const log = { warn: (...line: unknown[]) => warnings.push(line) };
  return new Hono()
    .use(async (c, next) => {
      c.set("log" as never, log as never);
      await next();
    })
    .route("/", dashboardRoutes(dir))
    .onError((err, c) => (err instanceof ApiError ? c.json(err.body("r1"), err.status) : c.text(String(err), 500)));
}

describe("loading the dashboard's build", () => {
  it("compresses what is worth compressing, once, and leaves images and tiny files as they are", async () => {
    const build = await loadDashboardBuild(join(root, "built"));
    if (build.kind !== "built") throw new Error(build.message);
    const js = build.assets.get("index-AbCd1234.js");
    expect(Object.keys(js?.encodings ?? {}).sort()).toEqual(["br", "gzip", "identity"]);
    expect(js?.contentType).toBe("text/javascript; charset=utf-8");
    expect(Object.keys(build.assets.get("icon-AbCd1234.png")?.encodings ?? {})).toEqual(["identity"]);
    expect(Object.keys(build.page.encodings)).toEqual(["identity"]);
  });

  it("answers a clear 404 naming the build command when there is no build, and serves it once built", async () => {
    const dir = join(root, "later");
    const warnings: unknown[][] = [];
    const app = appServing(dir, warnings);
    for (const path of ["/dashboard", "/dashboard/assets/index-AbCd1234.js", "/dashboard"]) {
      const res = await app.request(path);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status, JSON.stringify(body)).toBe(404);
      expect(body.error).toMatchObject({ code: "NOT_FOUND" });
      expect(body.error.message).toContain("The dashboard is not built");
      expect(body.error.message).toContain("pnpm --filter @evpipe/dashboard build");
      // The server's own paths are for its log, not for whoever asked.
      expect(body.error.message).not.toContain(root);
    }
    expect(warnings).toEqual([
      [{ dir, hint: expect.stringContaining("not built") }, "dashboard requested but not built"],
    ]);
    await mkdir(join(dir, "assets"), { recursive: true });
    await writeFile(join(dir, "index.html"), "<!doctype html><title>late</title>");
    const res = await app.request("/dashboard");
    expect([res.status, await res.text()]).toEqual([200, "<!doctype html><title>late</title>"]);
  });
});

describe("content negotiation", () => {
  const file: BuiltFile = {
    contentType: "text/javascript",
    encodings: {
      identity: { body: new Uint8Array(), etag: '"a"' },
      br: { body: new Uint8Array(), etag: '"a-br"' },
      gzip: { body: new Uint8Array(), etag: '"a-gz"' },
    },
  };
  const plainOnly: BuiltFile = { contentType: "image/png", encodings: { identity: file.encodings.identity } };

  it.each([
    [undefined, "identity"],
    ["", "identity"],
    ["gzip, deflate, br, zstd", "br"],
    ["gzip", "gzip"],
    ["GZIP;q=1, br;q=0.8", "gzip"],
    ["br;q=0, gzip;q=0.1", "gzip"],
    ["*", "br"],
    ["*;q=0.5, br;q=0", "gzip"],
    ["deflate, identity", "identity"],
    ["br;q=nonsense", "identity"],
  ] as const)("Accept-Encoding %j -> %s", (header, expected) => {
    expect(chooseEncoding(header, file)).toBe(expected);
  });

  it("never picks an encoding the file does not have", () => {
    expect(chooseEncoding("br, gzip", plainOnly)).toBe("identity");
  });

  it("matches If-None-Match weakly, in a list, or as *", () => {
    expect(matchesEtag('"a-br"', '"a-br"')).toBe(true);
    expect(matchesEtag('W/"a-br"', '"a-br"')).toBe(true);
    expect(matchesEtag('"x", "a-br"', '"a-br"')).toBe(true);
    expect(matchesEtag("*", '"a-br"')).toBe(true);
    expect(matchesEtag('"a"', '"a-br"')).toBe(false);
    expect(matchesEtag(undefined, '"a"')).toBe(false);
  });
});
