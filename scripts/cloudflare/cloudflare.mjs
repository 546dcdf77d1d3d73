// The two ways the deploy scripts talk to Cloudflare: the real wrangler (every change goes through
// it, printed as it runs, so a user can repeat any step by hand) and a small read-only client of
// the Cloudflare API (JSON answers instead of wrangler's tables) that uses wrangler's credentials
// (`wrangler auth token --json`: an API token, a global key or `wrangler login`) and its endpoint
// (CLOUDFLARE_API_BASE_URL).
import { spawn } from "node:child_process";
import path from "node:path";
import { ROOT } from "./deployment.mjs";

export const WRANGLER = path.join(ROOT, "node_modules", ".bin", "wrangler");
export const API_BASE = (process.env.CLOUDFLARE_API_BASE_URL ?? "https://api.cloudflare.com/client/v4").replace(/\/+$/, "");

/** An API answer with `success: false` (or not JSON): HTTP status, the first error's code and message. */
export class CloudflareError extends Error {
  constructor(status, code, message, route) {
    super(`${route}: HTTP ${status}${code ? ` (code ${code})` : ""}: ${message}`);
    this.status = status;
    this.code = code;
    this.detail = message;
  }
}

/**
 * Runs wrangler. `input` goes to its stdin (how secret values reach `wrangler secret put` without
 * touching the command line); `capture` keeps the output instead of passing it through.
 */
export function wrangler(args, { input, capture = false, env = {}, echo = true } = {}) {
  if (echo) process.stderr.write(`  $ wrangler ${args.map(shellQuote).join(" ")}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(WRANGLER, args, {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", ...env },
      stdio: [input === undefined ? "ignore" : "pipe", capture ? "pipe" : "inherit", capture ? "pipe" : "inherit"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => (stdout += d));
    child.stderr?.on("data", (d) => (stderr += d));
    if (input !== undefined) child.stdin.end(input);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Like `wrangler`, but a non-zero exit is an error naming the command. */
export async function wranglerOk(args, opts = {}) {
  const r = await wrangler(args, opts);
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split("\n").slice(-15).join("\n");
    throw new Error(`wrangler ${args.join(" ")} failed (exit ${r.code})${tail ? `:\n${tail}` : ""}`);
  }
  return r;
}

function shellQuote(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${String(s).replace(/'/g, "'\\''")}'`;
}

/** The Cloudflare API with wrangler's credentials. */
export class CloudflareApi {
  constructor(headers, accountId) {
    this.headers = headers;
    this.accountId = accountId;
  }

  /** Credentials from wrangler, and the account: CLOUDFLARE_ACCOUNT_ID, the config's, or the only one the token sees. */
  static async connect({ configAccountId } = {}) {
    const r = await wrangler(["auth", "token", "--json"], { capture: true, echo: false });
    if (r.code !== 0) {
      throw new Error(
        "wrangler has no credentials: set CLOUDFLARE_API_TOKEN (an API token with the permissions README.md lists) or run `npx wrangler login`",
      );
    }
    const auth = JSON.parse(r.stdout.slice(r.stdout.indexOf("{")));
    const headers =
      auth.type === "api_key" ? { "X-Auth-Key": auth.key, "X-Auth-Email": auth.email } : { authorization: `Bearer ${auth.token}` };
    const api = new CloudflareApi(headers, null);
    api.authType = auth.type;
    api.accountId = process.env.CLOUDFLARE_ACCOUNT_ID || configAccountId || (await api.onlyAccount());
    return api;
  }

  async onlyAccount() {
    const accounts = await this.get("/accounts");
    if (accounts.length === 1) return accounts[0].id;
    const list = accounts.map((a) => `${a.id} (${a.name})`).join(", ");
    throw new Error(
      accounts.length === 0
        ? "the credentials see no account: check the API token's account resources"
        : `the credentials see ${accounts.length} accounts (${list}): set CLOUDFLARE_ACCOUNT_ID to the one to deploy to`,
    );
  }

  /** `path` under /accounts/<id> when it starts with `@/`. */
  url(route, query) {
    const p = route.startsWith("@/") ? `/accounts/${this.accountId}${route.slice(1)}` : route;
    const u = new URL(API_BASE + p);
    for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v);
    return u;
  }

  /** GET (or `method`) `route`; returns `result`. `token` replaces wrangler's credentials. */
  async request(method, route, { body, query, token } = {}) {
    const headers = token ? { authorization: `Bearer ${token}` } : { ...this.headers };
    if (body !== undefined) headers["content-type"] = "application/json";
    const url = this.url(route, query);
    let res;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    } catch (e) {
      throw new CloudflareError(0, null, `cannot reach ${API_BASE}: ${e.cause?.message ?? e.message}`, `${method} ${route}`);
    }
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CloudflareError(res.status, null, text.slice(0, 200) || "(empty body)", `${method} ${route}`);
    }
    if (!json.success) {
      const e = json.errors?.[0] ?? {};
      throw new CloudflareError(res.status, e.code ?? null, e.message ?? JSON.stringify(json.errors), `${method} ${route}`);
    }
    return json.result;
  }

  get(route, opts) {
    return this.request("GET", route, opts);
  }

  /** `result` of GET, or `fallback` when the API says 404 (one of `codes` when given). */
  async getOr(route, fallback, { codes, ...opts } = {}) {
    try {
      return await this.get(route, opts);
    } catch (e) {
      if (e instanceof CloudflareError && e.status === 404 && (!codes || codes.includes(e.code))) return fallback;
      throw e;
    }
  }

  // --- the reads the scripts share -------------------------------------------------------------
  bucket(name) {
    return this.getOr(`@/r2/buckets/${name}`, null, { codes: [10006] });
  }

  /** The bucket's R2 Data Catalog (status, credential_status, maintenance_config), or null when not enabled. */
  catalog(bucket) {
    return this.getOr(`@/r2-catalog/${bucket}`, null, { codes: [40401, 10006] });
  }

  async queue(name) {
    const queues = await this.get("@/queues", { query: { name } });
    return queues.find((q) => q.queue_name === name) ?? null;
  }

  /** The bucket's notification rules, flattened: { queueId, queueName, ruleId, prefix, suffix, actions }. */
  async notificationRules(bucket) {
    const config = await this.get(`@/event_notifications/r2/${bucket}/configuration`);
    return (config.queues ?? []).flatMap((q) => q.rules.map((r) => ({ queueId: q.queueId, queueName: q.queueName, ...r })));
  }

  /** Secret names of a Worker, or null when the Worker does not exist. */
  async secretNames(script) {
    const list = await this.getOr(`@/workers/scripts/${script}/secrets`, null, { codes: [10007] });
    return list === null ? null : list.map((s) => s.name);
  }

  worker(script) {
    return this.getOr(`@/workers/services/${script}`, null, { codes: [10007] });
  }
}

/** Whether `rules` hold the notification rule of DESIGN.md for `queueName`. */
export function hasRawRule(rules, queueName, { prefix, suffix }, actions) {
  return rules.some(
    (r) => r.queueName === queueName && (r.prefix ?? "") === prefix && (r.suffix ?? "") === suffix && actions.every((a) => r.actions.includes(a)),
  );
}
