import { promisify } from "node:util";
import { gunzip, gunzipSync } from "node:zlib";
import { parseJsonText } from "@evpipe/shared";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { GatewayEnv } from "../context.ts";
import { findDuplicateKey } from "../duplicate-keys.ts";
import { ApiError } from "../errors.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Why a Content-Type is refused, or undefined for `application/json`, optionally with `charset=utf-8` (any
 * case). A JSON body in another charset is named as such, so its sender knows what to change.
 */
export function contentTypeProblem(header: string | undefined): string | undefined {
  const [type, ...params] = (header ?? "").split(";").map((part) => part.trim().toLowerCase());
  if (type !== "application/json") return "Content-Type must be application/json.";
  for (const param of params) {
    const [name, value = ""] = param.split("=").map((part) => part.trim().replaceAll('"', ""));
    if (param === "" || (name === "charset" && value === "utf-8")) continue;
    if (name === "charset") return `The charset "${value}" is not supported; send the JSON as charset=utf-8.`;
    return `The Content-Type parameter "${param}" is not supported; send application/json.`;
  }
  return undefined;
}

const inflate = promisify(gunzip);
const syncInflateBytes = 64 * 1024;

type BodyEncoding = "identity" | "gzip";

/** The body's Content-Encoding, or undefined for one the gateway cannot decode. */
function bodyEncoding(header: string | undefined): BodyEncoding | undefined {
  const codings = (header ?? "")
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== "" && coding !== "identity");
  if (codings.length === 0) return "identity";
  if (codings.length === 1 && (codings[0] === "gzip" || codings[0] === "x-gzip")) return "gzip";
  return undefined;
}

/** RFC 7694: a 415 for the coding names the codings the server accepts. */
function unsupportedEncoding(header: string): ApiError {
  return new ApiError(
    "UNSUPPORTED_MEDIA_TYPE",
    `The Content-Encoding "${header}" is not supported; send the body as it is or with Content-Encoding: gzip.`,
    { headers: { "Accept-Encoding": "gzip" } },
  );
}

/** Refuses, before the body is read, a Content-Encoding the gateway cannot decode. */
export const requireKnownEncoding = createMiddleware<GatewayEnv>(async (c, next) => {
  const header = c.req.header("content-encoding");
  if (bodyEncoding(header) === undefined) throw unsupportedEncoding(header ?? "");
  await next();
});

export const requireJson = createMiddleware<GatewayEnv>(async (c, next) => {
  const problem = contentTypeProblem(c.req.header("content-type"));
  if (problem) throw new ApiError("UNSUPPORTED_MEDIA_TYPE", problem);
  await next();
});

function payloadTooLarge(maxBytes: number): ApiError {
  return new ApiError("PAYLOAD_TOO_LARGE", `The request body must be at most ${maxBytes} bytes.`);
}

/**
 * Reads the body as sent, counting bytes as they arrive, so a chunked body or one without Content-Length
 * cannot exceed the limit. Under the Node server it reads the request stream itself: going through the web
 * Request's stream adapters cost several percent of a request's CPU.
 */
async function readSentBody(c: Context<GatewayEnv>, maxBytes: number): Promise<Uint8Array> {
  if (Number(c.req.header("content-length")) > maxBytes) throw payloadTooLarge(maxBytes);
  // Stopping early (a 413) must leave the Node request open, so earlyAnswer can drain the rest before closing.
  const incoming = c.env?.incoming;
  const source: AsyncIterable<Uint8Array> | null = incoming
    ? incoming.iterator({ destroyOnReturn: false })
    : c.req.raw.body;
  if (!source) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > maxBytes) throw payloadTooLarge(maxBytes);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks, size);
}

/**
 * The body, decompressed when it came with Content-Encoding: gzip. The limit applies to the decompressed
 * bytes and is enforced while inflating: zlib stops at the limit, so a small bomb that would inflate to
 * gigabytes never allocates more than the limit. The compressed body may not exceed the limit either.
 */
async function readBody(c: Context<GatewayEnv>, maxBytes: number): Promise<Uint8Array> {
  const header = c.req.header("content-encoding");
  const encoding = bodyEncoding(header);
  if (encoding === undefined) throw unsupportedEncoding(header ?? "");
  const sent = await readSentBody(c, maxBytes);
  if (encoding === "identity") return sent;
  try {
    // A small body inflates in well under a millisecond, less than handing it to the thread pool costs; a large
    // one is inflated there, so it does not hold up other requests.
    if (sent.length <= syncInflateBytes) return gunzipSync(sent, { maxOutputLength: maxBytes });
    return await inflate(sent, { maxOutputLength: maxBytes, chunkSize: 64 * 1024 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw payloadTooLarge(maxBytes);
    throw new ApiError("INVALID_JSON", "The request body is not valid gzip, as its Content-Encoding says.");
  }
}

/** The body as text: decompressed, within the limit, valid UTF-8. */
export async function readText(c: Context<GatewayEnv>, maxBytes: number): Promise<string> {
  const bytes = await readBody(c, maxBytes);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ApiError("INVALID_JSON", "The request body is not valid UTF-8.");
  }
}

export async function readJson(c: Context<GatewayEnv>, maxBytes: number): Promise<unknown> {
  return parseJsonBody(await readText(c, maxBytes));
}

/** A body's JSON, with every number as sent; a 400 when it is not JSON or repeats a key in one object. */
export function parseJsonBody(text: string): unknown {
  let body: unknown;
  try {
    // Keeps every number exactly: 1e400 or 12345678901234567890 stay as sent (see parseJsonText).
    body = parseJsonText(text);
  } catch {
    throw new ApiError("INVALID_JSON", "The request body is not valid JSON.");
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) {
    throw new ApiError("INVALID_JSON", `The request body repeats the key "${duplicate}" in one object.`);
  }
  return body;
}
