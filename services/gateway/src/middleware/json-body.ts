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

export const requireJson = createMiddleware<GatewayEnv>(async (c, next) => {
  const problem = contentTypeProblem(c.req.header("content-type"));
  if (problem) throw new ApiError("UNSUPPORTED_MEDIA_TYPE", problem);
  await next();
});

function payloadTooLarge(maxBytes: number): ApiError {
  return new ApiError("PAYLOAD_TOO_LARGE", `The request body must be at most ${maxBytes} bytes.`);
}

/**
 * Reads the body, counting bytes as they arrive, so a chunked body or one without Content-Length cannot exceed
 * the limit. Under the Node server it reads the request stream itself: going through the web Request's
 * stream adapters cost several percent of a request's CPU.
 */
async function readBody(c: Context<GatewayEnv>, maxBytes: number): Promise<Uint8Array> {
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

export async function readJson(c: Context<GatewayEnv>, maxBytes: number): Promise<unknown> {
  const bytes = await readBody(c, maxBytes);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError("INVALID_JSON", "The request body is not valid UTF-8.");
  }
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
