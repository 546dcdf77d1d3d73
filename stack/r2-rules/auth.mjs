// Authentication as R2 Data Catalog does it: a static API token sent as a bearer token; a missing or
// invalid token is 401 and a token without the needed permission is 403, both with a plain-text
// body ("Iceberg REST API compatibility", "Errors"). Upstream, SeaweedFS wants an OAuth2 token:
// the proxy mints one with the stack's client credentials and swaps it in.
//
// Local deviation, kept so OAuth clients of the stack keep working (the Rust integration tests,
// readers configured with `credential`): POST /v1/oauth/tokens is passed to SeaweedFS and the tokens
// it mints are accepted too. R2 has no such endpoint (getToken is not supported); `oauth: false`
// refuses it as R2 would. Every getToken shows in the stats.
import { timingSafeEqual } from "node:crypto";
import { send } from "./upstream.mjs";

/** Is `presented` exactly `expected`, in constant time. */
function sameSecret(presented, expected) {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Checks a request's Authorization header against the tokens the catalog accepts. */
export class ClientAuth {
  // access token -> expiry (ms since epoch), for tokens minted through getToken
  #minted = new Map();

  constructor({ token, readOnlyToken = null, now = Date.now }) {
    if (!token) throw new Error("the rules layer needs a static token (ICEPIPE_STACK_TOKEN)");
    this.token = token;
    this.readOnlyToken = readOnlyToken;
    this.now = now;
  }

  /** A token SeaweedFS minted through the proxy, valid for `expiresInSeconds`. */
  rememberMinted(accessToken, expiresInSeconds) {
    const now = this.now();
    // Every process that authenticates with OAuth mints its own: forget the expired ones now and then.
    if (this.#minted.size >= 1000) for (const [t, expires] of this.#minted) if (expires <= now) this.#minted.delete(t);
    this.#minted.set(accessToken, now + Math.max(0, Number(expiresInSeconds) || 3600) * 1000);
  }

  /**
   * null when the request may go on; else `{ status: 401 | 403, text }` (plain text, as R2 answers).
   * `write` says whether the operation needs write permission.
   */
  check(authorization, { write }) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!m) return { status: 401, text: "Unauthorized: missing bearer token (send Authorization: Bearer <API token>)\n" };
    const presented = m[1];
    if (sameSecret(presented, this.token)) return null;
    if (this.readOnlyToken && sameSecret(presented, this.readOnlyToken)) {
      return write ? { status: 403, text: "Forbidden: this API token has no write permission on the catalog\n" } : null;
    }
    const expires = this.#minted.get(presented);
    if (expires !== undefined) {
      if (expires > this.now()) return null;
      this.#minted.delete(presented);
    }
    return { status: 401, text: "Unauthorized: invalid or expired API token\n" };
  }
}

/**
 * The OAuth2 token the proxy uses upstream: minted with the client credentials, reused until a
 * minute before it expires, re-minted after SeaweedFS refused it.
 */
export class UpstreamToken {
  #token = null;
  #expires = 0;
  #pending = null;

  constructor({ uri, clientId, clientSecret, now = Date.now }) {
    this.uri = uri;
    this.clientId = clientId;
    this.clientSecret = clientSecret;
    this.now = now;
  }

  async get() {
    if (this.#token && this.now() < this.#expires) return this.#token;
    // One mint at a time however many requests wait for it.
    this.#pending ??= this.#mint().finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  invalidate() {
    this.#token = null;
  }

  async #mint() {
    const body = Buffer.from(new URLSearchParams({ grant_type: "client_credentials", client_id: this.clientId, client_secret: this.clientSecret }).toString());
    const r = await send(this.uri, { method: "POST", path: "/v1/oauth/tokens", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
    const text = r.body.toString("utf8");
    if (r.status !== 200) throw new Error(`SeaweedFS refused the stack's client credentials: HTTP ${r.status} ${text.slice(0, 200)}`);
    const { access_token: token, expires_in: expiresIn = 3600 } = JSON.parse(text);
    this.#token = token;
    this.#expires = this.now() + Math.max(0, (Number(expiresIn) || 3600) - 60) * 1000;
    return token;
  }
}
