import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { brotliCompress, constants, gzip } from "node:zlib";

/** The dashboard package's build output (services/dashboard/dist), beside this service in the workspace and the image. */
export const defaultDashboardDir = fileURLToPath(new URL("../../dashboard/dist/", import.meta.url));

export const buildCommand = "pnpm install (or pnpm --filter @evpipe/dashboard build)";

export type Encoding = "br" | "gzip" | "identity";

/** One file of the build, with each encoding it is worth sending in, compressed once when loaded. */
export interface BuiltFile {
  contentType: string;
  /** Each encoding's bytes and ETag: a compressed copy is another representation, so it has its own. */
  encodings: Partial<Record<Encoding, { body: Uint8Array; etag: string }>> & {
    identity: { body: Uint8Array; etag: string };
  };
}

export type DashboardBuild =
  | { kind: "built"; page: BuiltFile; assets: ReadonlyMap<string, BuiltFile> }
  | { kind: "missing"; message: string; dir: string };

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json; charset=utf-8",
  ".png": "image/png",
  ".woff2": "font/woff2",
};
// Already compressed, or too small for compression to pay for its header.
const incompressible = new Set([".png", ".woff2"]);
const minCompressBytes = 256;

const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);

const etagOf = (body: Uint8Array, suffix = "") =>
  `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}${suffix}"`;

async function builtFile(name: string, body: Uint8Array): Promise<BuiltFile> {
  const extension = extname(name);
  const identity = { body, etag: etagOf(body) };
  const file: BuiltFile = {
    contentType: contentTypes[extension] ?? "application/octet-stream",
    encodings: { identity },
  };
  if (incompressible.has(extension) || body.byteLength < minCompressBytes) return file;
  const [br, gz] = await Promise.all([
    brotli(body, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.byteLength },
    }),
    gzipped(body, { level: 9 }),
  ]);
  if (br.byteLength < body.byteLength) file.encodings.br = { body: br, etag: etagOf(body, "-br") };
  if (gz.byteLength < body.byteLength) file.encodings.gzip = { body: gz, etag: etagOf(body, "-gz") };
  return file;
}

const isMissing = (err: unknown) =>
  err instanceof Error && "code" in err && (err.code === "ENOENT" || err.code === "ENOTDIR");

/** Reads index.html and every file under assets/ once, compressing each; a directory without them is `missing`. */
export async function loadDashboardBuild(dir: string): Promise<DashboardBuild> {
  let names: string[];
  let page: Uint8Array;
  try {
    page = await readFile(join(dir, "index.html"));
    names = await readdir(join(dir, "assets"));
  } catch (err) {
    if (!isMissing(err)) throw err;
    // Anyone may ask for the page: the message names the fix, and only the log says where the build was looked for.
    return { kind: "missing", message: `The dashboard is not built; build it with ${buildCommand}.`, dir };
  }
  const assets = new Map<string, BuiltFile>();
  for (const name of names) assets.set(name, await builtFile(name, await readFile(join(dir, "assets", name))));
  return { kind: "built", page: await builtFile("index.html", page), assets };
}

/**
 * The build, read on first use and then kept; a missing build is looked for again by the next request, so
 * building it while the gateway runs is enough.
 */
export function dashboardBuild(dir: string): () => Promise<DashboardBuild> {
  let pending: Promise<DashboardBuild> | undefined;
  return () => {
    pending ??= loadDashboardBuild(dir).then(
      (build) => {
        if (build.kind === "missing") pending = undefined;
        return build;
      },
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    );
    return pending;
  };
}

/** The encoding to answer in: the client's most preferred of those the file has (br on a tie), by q-value. */
export function chooseEncoding(acceptEncoding: string | undefined, file: BuiltFile): Encoding {
  const quality = new Map<string, number>();
  for (const part of (acceptEncoding ?? "").split(",")) {
    const [name = "", ...parameters] = part.split(";").map((piece) => piece.trim().toLowerCase());
    const q = parameters.find((parameter) => parameter.startsWith("q="));
    const value = q === undefined ? 1 : Number(q.slice(2));
    if (name !== "") quality.set(name, Number.isFinite(value) ? value : 0);
  }
  let best: Encoding = "identity";
  let bestQuality = 0;
  for (const encoding of ["br", "gzip"] as const) {
    const q = quality.get(encoding) ?? quality.get("*") ?? 0;
    if (file.encodings[encoding] && q > bestQuality) {
      best = encoding;
      bestQuality = q;
    }
  }
  return best;
}

/** If-None-Match holds this ETag (weak comparison, as RFC 9110 asks for this header) or `*`. */
export function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === etag;
  });
}
