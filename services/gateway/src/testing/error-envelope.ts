/** The body every error has (STYLE: one envelope), for `expect(body).toEqual(errorEnvelope(...))`. */
export function errorEnvelope(headers: Headers, code: string, message: string, details?: Record<string, string[]>) {
  return { error: { code, message, ...(details ? { details } : {}), request_id: headers.get("x-request-id") } };
}
