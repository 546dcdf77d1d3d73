// One request to SeaweedFS's catalog, answered in full (catalog answers are JSON documents of modest
// size, and some must be rewritten before they go back).
import http from "node:http";

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

// Hop-by-hop headers (RFC 9110 7.6.1) and the ones the proxy computes itself.
const NOT_FORWARDED = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "host",
  "content-length",
]);

/** `headers` without hop-by-hop ones and without the names in `drop` (lower case). */
export function forwardableHeaders(headers, drop = []) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!NOT_FORWARDED.has(lower) && !drop.includes(lower)) out[lower] = value;
  }
  return out;
}

/** SeaweedFS did not answer (not running, connection refused or reset). */
export class UpstreamUnreachable extends Error {}

/** Sends the request; resolves `{ status, headers, body }`, rejects with UpstreamUnreachable. */
export function send(base, { method, path, headers, body }) {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent, headers: { ...headers, ...(body?.length ? { "content-length": body.length } : {}) } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", (e) => reject(new UpstreamUnreachable(`${base}: ${e.message}`)));
      },
    );
    req.on("error", (e) => reject(new UpstreamUnreachable(`${base}: ${e.message}`)));
    req.end(body?.length ? body : undefined);
  });
}
