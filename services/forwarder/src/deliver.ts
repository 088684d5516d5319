import type { EnvelopeEvent } from "@evpipe/shared";
import type { DeliveryOutcome } from "./delivery-decision.ts";
import type { DeliveryTarget, Vendor } from "./vendors/vendor.ts";

/** What is read of a vendor's answer: enough for Mixpanel's failed_records, not a hostile endless body. */
const maxAnswerBytes = 256 * 1024;

async function answerText(res: Response): Promise<string> {
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.length;
    // Leaving the loop cancels the rest of the stream.
    if (size > maxAnswerBytes) break;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** An error's text with any URL in it replaced: a URL may carry a credential, and this text is logged and listed. */
const withoutUrls = (text: string) => text.replace(/[a-z][a-z0-9+.-]*:\/\/\S*/gi, "<url>");

/** Why no answer came: the cause's code (ECONNREFUSED), a timeout, or the cause's message ("bad port"). */
function unreachable(err: unknown, timeoutMs: number): DeliveryOutcome {
  const error = err as Error & { cause?: { code?: string; message?: string } };
  if (error.name === "TimeoutError") return { kind: "unreachable", error: `no answer within ${timeoutMs} ms` };
  // fetch's own message is "fetch failed"; its cause says why (fetch refuses ports such as 9 or 6000 outright).
  const why = error.cause?.code ?? error.cause?.message ?? error.message;
  return { kind: "unreachable", error: withoutUrls(String(why)) };
}

/**
 * Sends one batch in the vendor's format and says what came of it; never throws. A connection refused,
 * reset or not answered within `timeoutMs` is `unreachable`; any answer is `answered`, with the events a
 * vendor refused when it refused only some of them. What to do about it is deliveryDecision's to say.
 */
export async function deliver(
  vendor: Vendor,
  target: DeliveryTarget,
  events: readonly EnvelopeEvent[],
  options: { nowMs: number; timeoutMs: number },
): Promise<DeliveryOutcome> {
  let res: Response;
  try {
    const request = vendor.request(target, events, options.nowMs);
    res = await fetch(request.url, {
      method: "POST",
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (err) {
    return unreachable(err, options.timeoutMs);
  }
  const body = await answerText(res).catch(() => "");
  const refusedIds = vendor.refusedIds?.(res.status, body, events);
  return {
    kind: "answered",
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    ...(refusedIds ? { refusedIds } : {}),
  };
}
