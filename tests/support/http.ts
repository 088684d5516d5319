export interface JsonResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export async function postJson<T = Record<string, unknown>>(
  baseUrl: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const res = await fetch(baseUrl + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as T };
}

export interface BatchAccepted {
  accepted: number;
  ids: string[];
  received_at: string;
}

export function events(count: number, prefix = "evt"): Array<{ event: string; user_id: string }> {
  return Array.from({ length: count }, (_, i) => ({ event: `${prefix}-${i % 7}`, user_id: `user-${i % 13}` }));
}
