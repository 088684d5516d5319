import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { GatewayEnv } from "../context.ts";
import { ApiError } from "../errors.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** `application/json`, optionally with `charset=utf-8` (any case); nothing else. */
export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  const [type, ...params] = header.split(";").map((part) => part.trim().toLowerCase());
  if (type !== "application/json") return false;
  return params.every((param) => param === "" || param.replaceAll('"', "") === "charset=utf-8");
}

export const requireJson = createMiddleware<GatewayEnv>(async (c, next) => {
  if (!isJsonContentType(c.req.header("content-type"))) {
    throw new ApiError("UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json.");
  }
  await next();
});

/** Counts the bytes as they arrive, so a chunked body or one without Content-Length cannot exceed the limit. */
export function limitBody(maxBytes: number) {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError("PAYLOAD_TOO_LARGE", `The request body must be at most ${maxBytes} bytes.`);
    },
  });
}

export async function readJson(c: Context<GatewayEnv>): Promise<unknown> {
  const bytes = await c.req.arrayBuffer();
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError("INVALID_JSON", "The request body is not valid UTF-8.");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError("INVALID_JSON", "The request body is not valid JSON.");
  }
}
