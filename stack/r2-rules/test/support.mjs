// Shared pieces of the rules layer's integration tests: a rules layer of the test's own (its own
// limits, on an ephemeral port) in front of the running stack's real SeaweedFS, a small Iceberg REST
// client, a direct line to SeaweedFS (to see what did or did not reach it), and PyIceberg appends.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "../../../harness/lib/bounded.mjs";
import { PYTHON, run, stackSettings } from "../../../harness/lib/stack.mjs";
import { seaweedUri, startRulesLayer } from "../../../harness/lib/rules_layer.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const TEST_TOKEN = "r2-rules-test-token";

/** A client of SeaweedFS itself, with an OAuth token minted there. */
export async function seaweedClient(settings = stackSettings()) {
  const uri = await seaweedUri(settings);
  const [id, secret] = settings.credential.split(/:(.*)/s);
  const body = new URLSearchParams({ grant_type: "client_credentials", client_id: id, client_secret: secret });
  const r = await fetch(`${uri}/v1/oauth/tokens`, { method: "POST", body, signal: AbortSignal.timeout(10_000) });
  if (!r.ok) throw new Error(`SeaweedFS token: HTTP ${r.status}`);
  return new RestClient(uri, (await r.json()).access_token);
}

/**
 * A rules layer of the test's own in front of the stack's SeaweedFS: `overrides` go into its
 * configuration (limits, latency, ...). Commit latency 0 unless asked for. Returns
 * `{ url, client, state, logs, stop }`.
 */
export async function startRules(overrides = {}) {
  const logs = [];
  const rules = await startRulesLayer({ token: TEST_TOKEN, overrides: { commitLatencyMs: 0, log: (entry) => logs.push(entry), ...overrides } });
  return { url: rules.url, client: new RestClient(rules.url, TEST_TOKEN), state: rules.state, logs, stop: rules.stop };
}

export function uniqueNamespace(prefix = "r2t") {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

const SCHEMA = { type: "struct", "schema-id": 0, fields: [{ id: 1, name: "id", type: "long", required: false }] };

/** Just enough of the Iceberg REST API to drive the rules layer (and SeaweedFS) by hand. */
export class RestClient {
  constructor(url, token, prefix = "warehouse") {
    this.url = url;
    this.token = token;
    this.prefix = prefix;
  }

  /** `{ status, headers, text, json }`; `token: null` sends no Authorization. */
  async req(method, pathname, { body, headers = {}, token = this.token, timeoutMs = 30_000 } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined) h["content-type"] = "application/json";
    const r = await fetch(this.url + pathname, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON (plain-text 401/403, empty 204)
    }
    return { status: r.status, headers: r.headers, text, json };
  }

  path(ns, rest = "") {
    return `/v1/${this.prefix}/namespaces/${encodeURIComponent([].concat(ns).join("\x1f"))}${rest}`;
  }

  createNamespace(ns, properties = {}) {
    return this.req("POST", `/v1/${this.prefix}/namespaces`, { body: { namespace: [].concat(ns), properties } });
  }

  createTable(ns, name, extra = {}) {
    return this.req("POST", this.path(ns, "/tables"), { body: { name, schema: SCHEMA, ...extra } });
  }

  loadTable(ns, name, { query = "", headers } = {}) {
    return this.req("GET", this.path(ns, `/tables/${encodeURIComponent(name)}${query}`), { headers });
  }

  dropTable(ns, name) {
    return this.req("DELETE", this.path(ns, `/tables/${encodeURIComponent(name)}`));
  }

  commit(ns, name, { requirements = [], updates = [] }, { headers, timeoutMs } = {}) {
    return this.req("POST", this.path(ns, `/tables/${encodeURIComponent(name)}`), { body: { requirements, updates }, headers, timeoutMs });
  }

  /** A real updateTable commit that sets one table property. */
  setProperty(ns, name, key, value, opts) {
    return this.commit(ns, name, { updates: [{ action: "set-properties", updates: { [key]: String(value) } }] }, opts);
  }

  async properties(ns, name) {
    const r = await this.loadTable(ns, name);
    if (r.status !== 200) throw new Error(`load ${ns}.${name}: HTTP ${r.status} ${r.text}`);
    return r.json.metadata.properties ?? {};
  }

  async stats() {
    const r = await this.req("GET", "/_rules/stats", { token: null });
    if (r.status !== 200) throw new Error(`stats: HTTP ${r.status}`);
    return r.json;
  }
}

/** Waits until a commit to `ident` is in flight in the rules layer (so a second one surely overlaps). */
export function waitInFlight(state, ident) {
  return waitFor(() => state.slots.busy.some((k) => k.endsWith(`|${ident}`)), { timeoutMs: 20_000, intervalMs: 20, what: `a commit to ${ident} in flight` });
}

/** PyIceberg appends to `ident` through `url` with `token`: one outcome object per append. */
export async function pyAppend(url, token, ident, { times = 1 } = {}) {
  const r = await run(PYTHON, [path.join(HERE, "append.py"), url, token, ident, "--times", String(times)], { env: stackSettings().env, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`append.py failed (exit ${r.code}): ${r.stderr}`);
  return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}
