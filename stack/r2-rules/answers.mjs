// The answers the layer makes itself. A handler returns an answer (`{ status, headers, body, note }`,
// or `{ reset: true }` to drop the connection) and the server writes it once; `note` goes to the log.

/** JSON answer. */
export function json(status, value, { headers = {}, note } = {}) {
  return { status, headers: { "content-type": "application/json", ...headers }, body: Buffer.from(JSON.stringify(value)), note };
}

/** An IcebergErrorResponse, the shape R2 Data Catalog uses for every error but 401/403. */
export function icebergError(status, type, message, { headers = {}, note } = {}) {
  return json(status, { error: { message, type, code: status } }, { headers, note: note ?? `${status} ${type}` });
}

/** 401/403 as R2 answers them: a plain-text body. */
export function plainText(status, text, { note } = {}) {
  return { status, headers: { "content-type": "text/plain; charset=utf-8" }, body: Buffer.from(text), note: note ?? `${status} plain text` };
}

/** 429 for a broken rate-limit rule. */
export function tooManyRequests(rule, limit, retryAfterSeconds, windowSeconds) {
  return icebergError(
    429,
    "TooManyRequestsException",
    `Rate limit exceeded (${rule}: at most ${limit} per ${windowSeconds} s); retry after ${retryAfterSeconds} s`,
    { headers: { "retry-after": String(retryAfterSeconds) }, note: `429 ${rule}` },
  );
}
