// A local stand-in of the Cloudflare API (v4) for the deploy scripts and the real wrangler, which
// takes its endpoint from CLOUDFLARE_API_BASE_URL. It answers the routes scripts/setup, deploy and
// doctor use and the ones wrangler 4.86 calls for them (read from wrangler-dist/cli.js and recorded
// from its requests), in the API's documented envelope `{success, errors, messages, result}`,
// keeps state (buckets, catalogs, queues and consumers, notification rules, Workers with their
// bindings, secrets, schedules, migrations and Durable Object namespaces), checks API tokens and
// their permissions, and records every call.
//
//   const cf = await startCloudflareApi({ accountId, tokens: { [token]: ALL_PERMISSIONS } });
//   env: CLOUDFLARE_API_BASE_URL=cf.apiUrl CLOUDFLARE_API_TOKEN=token CLOUDFLARE_ACCOUNT_ID=accountId
//   cf.calls                  every request: { method, path, query, status, body }
//   cf.state                  what exists
//   cf.catalogHost            R2 Data Catalog REST (`<host>/<account>/<bucket>/v1/...`), proxied to
//                             an upstream Iceberg REST catalog (the local stack) when given one
//   await cf.close();
//
// Errors use the codes wrangler branches on: 10007 Worker not found, 10006 bucket not found,
// 40401 catalog not enabled, 10000 authentication, 10057 invalid inherit binding.
//
// What wrangler 4.86.0 requests (recorded from this stand-in; paths under /accounts/<id>):
//   r2 bucket create B              POST /r2/buckets {name}
//   r2 bucket catalog enable B      POST /r2-catalog/B/enable -> {id, name: "<account>_<B>"}
//   queues create Q                 POST /queues {queue_name}
//   r2 bucket notification create   GET /queues?name=Q, PUT /event_notifications/r2/B/configuration/queues/<queue id> {rules}
//   secret put NAME                 PUT /workers/scripts/W/secrets {name, text, type}; on 10007 first
//                                   PUT /workers/scripts/W (an empty Worker), then the secret again
//   deploy (new Worker, or with     GET /workers/services/W, /workers/scripts/W/deployments, /workers/scripts
//     a migration to apply)         (migration tag), /workers/scripts/W/settings, /queues?name= (each queue),
//                                   PUT /workers/scripts/W?excludeScript=true&bindings_inherit=strict (multipart:
//                                   metadata {main_module, bindings, migrations, keep_bindings, ...} + modules),
//                                   GET /workers/subdomain, GET+POST /workers/scripts/W/subdomain,
//                                   PUT /workers/scripts/W/schedules [{cron}] (when crons are set),
//                                   POST /queues/<id>/consumers (or PUT .../consumers/<consumer id> when it exists)
//   deploy (existing Worker)        as above, but POST /workers/scripts/W/versions?bindings_inherit=strict,
//                                   POST /workers/scripts/W/deployments, PATCH /workers/scripts/W/script-settings
//   whoami --json                   GET /user/tokens/verify, /user, /accounts
//   (no CLOUDFLARE_ACCOUNT_ID)      GET /memberships
// The scripts' own reads: /accounts, /r2/buckets/B, /r2-catalog/B, /queues?name=,
// /event_notifications/r2/B/configuration, /workers/scripts/W/secrets, /workers/services/W,
// /workers/scripts/W/settings, /queues/<id>/metrics, /workers/subdomain, /user/tokens/verify; and
// setup's writes POST /r2-catalog/B/credential and /r2-catalog/B/maintenance-configs.
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";

/** Permission groups a stand-in token can hold (the API token permissions the README lists). */
export const PERMISSIONS = Object.freeze({
  workers: "Workers Scripts Edit",
  r2: "Workers R2 Storage Edit",
  catalog: "Workers R2 Data Catalog Edit",
  queues: "Queues Edit",
  account: "Account Settings Read",
});
export const ALL_PERMISSIONS = Object.freeze(Object.keys(PERMISSIONS));

const API_PREFIX = "/client/v4";
const CATALOG_PREFIX = "/r2-data-catalog";
const CREATE_ACTIONS = ["PutObject", "CompleteMultipartUpload", "CopyObject"];
// A forwarded catalog request that gets no answer fails instead of holding its caller forever.
const UPSTREAM_TIMEOUT_MS = 30_000;

/** A list answered in one page, with the `result_info` paged lists carry. */
class Paged {
  constructor(items) {
    this.result = items;
    this.resultInfo = { page: 1, per_page: Math.max(items.length, 20), count: items.length, total_count: items.length, total_pages: 1 };
  }
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const notFound = (code, message) => new ApiError(404, code, message);
const now = () => new Date().toISOString();
const hexId = () => randomBytes(16).toString("hex");

/**
 * Starts the stand-in on 127.0.0.1 (random port unless `port`).
 *
 * Options:
 *   accountId, accountName
 *   tokens        { <token>: [permission group, ...] } (see PERMISSIONS); `accountId` per token via
 *                 { <token>: { permissions, accountId } } for a token of another account
 *   subdomain     the account's workers.dev subdomain (default "icepipe-test")
 *   catalogUpstream  { uri, warehouse, credential } of an Iceberg REST catalog that the R2 Data
 *                 Catalog routes forward to (the local stack); without it only /v1/config answers
 */
export async function startCloudflareApi(opts = {}) {
  const accountId = opts.accountId ?? hexId();
  const accountName = opts.accountName ?? "icepipe test account";
  const tokens = new Map(
    Object.entries(opts.tokens ?? {}).map(([t, v]) => [
      t,
      Array.isArray(v) ? { permissions: new Set(v), accountId } : { permissions: new Set(v.permissions), accountId: v.accountId ?? accountId },
    ]),
  );
  const state = {
    accountId,
    subdomain: opts.subdomain ?? "icepipe-test",
    buckets: new Map(), // name -> { name, creation_date, location, storage_class }
    catalogs: new Map(), // bucket -> { id, name, bucket, status, credential_status, maintenance_config }
    queues: new Map(), // queue_id -> queue
    notifications: new Map(), // bucket -> Map(queue_id -> rules[])
    scripts: new Map(), // name -> script
    durableObjects: new Map(), // `${script}:${class}` -> namespace
  };
  const calls = [];

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (calls.length) calls[calls.length - 1].status ||= 500;
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(e?.stack ?? e));
    });
  });

  async function handle(req, res) {
    const url = new URL(req.url, "http://stand-in");
    const body = await readBody(req);
    const call = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), status: 0, at: Date.now() };
    calls.push(call);
    if (url.pathname.startsWith(CATALOG_PREFIX + "/")) {
      const out = await catalogRest(req, url, body);
      call.status = out.status;
      res.writeHead(out.status, out.headers);
      res.end(out.body);
      return;
    }
    let status = 200;
    let payload;
    try {
      if (!url.pathname.startsWith(API_PREFIX + "/")) throw notFound(7000, `No route for that URI: ${url.pathname}`);
      const path = url.pathname.slice(API_PREFIX.length);
      call.path = path;
      const token = bearer(req);
      const auth = tokens.get(token);
      if (!auth) throw new ApiError(401, 10000, "Authentication error");
      call.body = await parseBody(req, body);
      const { result, resultInfo } = await route(req.method, path, url.searchParams, call.body, auth);
      payload = { success: true, errors: [], messages: [], result: result ?? null, ...(resultInfo ? { result_info: resultInfo } : {}) };
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      status = e.status;
      payload = { success: false, errors: [{ code: e.code, message: e.message }], messages: [], result: null };
    }
    call.status = status;
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(payload));
  }

  // ---------------------------------------------------------------------------------------------
  // Routing: [method, pattern, permission group, handler(params, body, query, auth)].
  const routes = [];
  const on = (method, pattern, permission, handler) => {
    const names = [];
    const re = new RegExp(
      "^" + pattern.replace(/:([a-z_]+)/g, (_, n) => (names.push(n), "([^/]+)")) + "$",
    );
    routes.push({ method, re, names, permission, handler });
  };

  async function route(method, path, query, body, auth) {
    for (const r of routes) {
      if (r.method !== method) continue;
      const m = r.re.exec(path);
      if (!m) continue;
      const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
      if (params.account && params.account !== auth.accountId) {
        throw new ApiError(403, 10000, "Authentication error");
      }
      if (params.account && params.account !== accountId) throw notFound(7003, "Could not route to /accounts, perhaps your object identifier is invalid?");
      if (r.permission && !auth.permissions.has(r.permission)) {
        throw new ApiError(403, 10000, "Authentication error");
      }
      const out = await r.handler(params, body, query, auth);
      return out instanceof Paged ? out : { result: out };
    }
    throw notFound(7000, `No route for that URI: ${method} ${path}`);
  }

  const paged = (items) => new Paged(items);

  // --- user, tokens, accounts ------------------------------------------------------------------
  on("GET", "/user/tokens/verify", null, (_p, _b, _q, auth) => ({
    id: `token-${[...tokens.values()].indexOf(auth)}`,
    status: "active",
  }));
  on("GET", "/accounts/:account/tokens/verify", null, (_p, _b, _q, auth) => ({
    id: `token-${[...tokens.values()].indexOf(auth)}`,
    status: "active",
  }));
  on("GET", "/user", null, () => ({ id: "user-1", email: "deployer@example.com" }));
  on("GET", "/memberships", null, (_p, _b, _q, auth) =>
    paged([{ id: "m-1", status: "accepted", account: { id: auth.accountId, name: accountName } }]),
  );
  on("GET", "/accounts", null, (_p, _b, _q, auth) => paged([{ id: auth.accountId, name: accountName }]));

  // --- R2 buckets -------------------------------------------------------------------------------
  const bucketOr404 = (name) => {
    const b = state.buckets.get(name);
    if (!b) throw notFound(10006, "The specified bucket does not exist.");
    return b;
  };
  on("GET", "/accounts/:account/r2/buckets", "r2", () => ({ buckets: [...state.buckets.values()] }));
  on("POST", "/accounts/:account/r2/buckets", "r2", (_p, body) => {
    const name = body?.name;
    if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(name ?? "")) throw new ApiError(400, 10005, `Invalid bucket name: ${name}`);
    if (state.buckets.has(name)) throw new ApiError(409, 10004, "The bucket you tried to create already exists, and you own it.");
    const b = { name, creation_date: now(), location: body.locationHint ?? "WNAM", storage_class: body.storageClass ?? "Standard" };
    state.buckets.set(name, b);
    return b;
  });
  on("GET", "/accounts/:account/r2/buckets/:bucket", "r2", (p) => bucketOr404(p.bucket));

  // --- R2 Data Catalog --------------------------------------------------------------------------
  const catalogOr404 = (bucket) => {
    const c = state.catalogs.get(bucket);
    if (!c || c.status !== "active") throw notFound(40401, `Catalog not found for bucket '${bucket}'`);
    return c;
  };
  on("GET", "/accounts/:account/r2-catalog", "catalog", () => ({ warehouses: [...state.catalogs.values()] }));
  on("GET", "/accounts/:account/r2-catalog/:bucket", "catalog", (p) => catalogOr404(p.bucket));
  on("POST", "/accounts/:account/r2-catalog/:bucket/enable", "catalog", (p) => {
    bucketOr404(p.bucket);
    const existing = state.catalogs.get(p.bucket);
    const c = existing ?? {
      id: randomUUID(),
      name: `${accountId}_${p.bucket}`,
      bucket: p.bucket,
      status: "active",
      credential_status: "absent",
      maintenance_config: {
        compaction: { state: "disabled", target_size_mb: "128" },
        snapshot_expiration: { state: "disabled", max_snapshot_age: "7d", min_snapshots_to_keep: 100 },
      },
    };
    c.status = "active";
    state.catalogs.set(p.bucket, c);
    return { id: c.id, name: c.name };
  });
  on("POST", "/accounts/:account/r2-catalog/:bucket/disable", "catalog", (p) => {
    catalogOr404(p.bucket).status = "inactive";
    return null;
  });
  on("GET", "/accounts/:account/r2-catalog/:bucket/maintenance-configs", "catalog", (p) => {
    const c = catalogOr404(p.bucket);
    return { credential_status: c.credential_status, maintenance_config: c.maintenance_config };
  });
  on("POST", "/accounts/:account/r2-catalog/:bucket/maintenance-configs", "catalog", (p, body) => {
    const c = catalogOr404(p.bucket);
    const mc = c.maintenance_config;
    if (body?.compaction) {
      const { state: s, target_size_mb, targetSizeMb } = body.compaction;
      if (s === "enabled" && c.credential_status !== "present") {
        throw new ApiError(400, 40003, "A credential is required to enable compaction: POST .../credential first");
      }
      if (s) mc.compaction.state = s;
      const size = target_size_mb ?? targetSizeMb;
      if (size !== undefined) {
        if (!["64", "128", "256", "512"].includes(String(size))) throw new ApiError(400, 40004, `Invalid target_size_mb: ${size}`);
        mc.compaction.target_size_mb = String(size);
      }
    }
    if (body?.snapshot_expiration) Object.assign(mc.snapshot_expiration, body.snapshot_expiration);
    return mc;
  });
  on("POST", "/accounts/:account/r2-catalog/:bucket/credential", "catalog", (p, body) => {
    const c = catalogOr404(p.bucket);
    const t = tokens.get(body?.token);
    // The API checks that the credential can read and write the bucket and its catalog.
    if (!t || !t.permissions.has("r2") || !t.permissions.has("catalog")) {
      throw new ApiError(400, 40005, "The credential needs R2 Storage and R2 Data Catalog write permissions");
    }
    c.credential_status = "present";
    return null;
  });

  // --- Queues -----------------------------------------------------------------------------------
  const queueView = (q) => ({
    ...q,
    consumers_total_count: q.consumers.length,
    producers_total_count: q.producers.length,
  });
  const queueOr404 = (id) => {
    const q = state.queues.get(id);
    if (!q) throw notFound(11000, "Queue not found");
    return q;
  };
  const queueByName = (name) => [...state.queues.values()].find((q) => q.queue_name === name);
  on("GET", "/accounts/:account/queues", "queues", (_p, _b, query) => {
    const names = query.getAll("name");
    const all = [...state.queues.values()].filter((q) => names.length === 0 || names.includes(q.queue_name));
    return paged(all.map(queueView));
  });
  on("POST", "/accounts/:account/queues", "queues", (_p, body) => {
    const name = body?.queue_name;
    if (!/^[a-z0-9-]{1,63}$/.test(name ?? "")) throw new ApiError(400, 11003, `Invalid queue name: ${name}`);
    if (queueByName(name)) throw new ApiError(409, 11009, `A queue with name '${name}' already exists`);
    const q = {
      queue_id: hexId(),
      queue_name: name,
      created_on: now(),
      modified_on: now(),
      settings: { delivery_delay: 0, message_retention_period: 345600, ...(body.settings ?? {}) },
      producers: [],
      consumers: [],
      messages: [], // pushed messages not consumed (the DLQ has no consumer)
    };
    state.queues.set(q.queue_id, q);
    return queueView(q);
  });
  on("GET", "/accounts/:account/queues/:queue", "queues", (p) => queueView(queueOr404(p.queue)));
  on("GET", "/accounts/:account/queues/:queue/metrics", "queues", (p) => {
    const q = queueOr404(p.queue);
    return {
      backlog_count: q.messages.length,
      backlog_bytes: q.messages.reduce((n, m) => n + JSON.stringify(m.body).length, 0),
      oldest_message_timestamp_ms: q.messages.length ? Math.min(...q.messages.map((m) => m.timestamp_ms)) : 0,
    };
  });
  on("POST", "/accounts/:account/queues/:queue/messages", "queues", (p, body) => {
    queueOr404(p.queue).messages.push({ id: hexId(), body: body?.body ?? body, timestamp_ms: Date.now() });
    return null;
  });
  on("POST", "/accounts/:account/queues/:queue/purge", "queues", (p) => {
    queueOr404(p.queue).messages = [];
    return { started_on: now(), complete: true };
  });
  const consumerFrom = (q, body, existing = {}) => {
    if (body?.type !== "worker" && body?.type !== "http_pull") throw new ApiError(400, 11004, `Invalid consumer type: ${body?.type}`);
    if (body.dead_letter_queue && !queueByName(body.dead_letter_queue)) {
      throw new ApiError(400, 11005, `Dead letter queue '${body.dead_letter_queue}' does not exist`);
    }
    const script = body.script_name ?? existing.script;
    if (body.type === "worker" && !state.scripts.has(script)) throw notFound(10007, `This Worker does not exist on your account: ${script}`);
    return {
      consumer_id: existing.consumer_id ?? hexId(),
      type: body.type,
      queue_name: q.queue_name,
      ...(body.type === "worker" ? { script } : {}),
      dead_letter_queue: body.dead_letter_queue,
      settings: Object.fromEntries(Object.entries(body.settings ?? {}).filter(([, v]) => v !== undefined)),
      created_on: existing.created_on ?? now(),
    };
  };
  on("GET", "/accounts/:account/queues/:queue/consumers", "queues", (p) => paged(queueOr404(p.queue).consumers));
  on("POST", "/accounts/:account/queues/:queue/consumers", "queues", (p, body) => {
    const q = queueOr404(p.queue);
    if (body?.type === "worker" && q.consumers.some((c) => c.type === "worker")) {
      throw new ApiError(400, 11010, `Queue '${q.queue_name}' already has a Worker consumer`);
    }
    const c = consumerFrom(q, body);
    q.consumers.push(c);
    return c;
  });
  on("PUT", "/accounts/:account/queues/:queue/consumers/:consumer", "queues", (p, body) => {
    const q = queueOr404(p.queue);
    const i = q.consumers.findIndex((c) => c.consumer_id === p.consumer);
    if (i < 0) throw notFound(11001, "Consumer not found");
    q.consumers[i] = consumerFrom(q, body, q.consumers[i]);
    return q.consumers[i];
  });
  on("DELETE", "/accounts/:account/queues/:queue/consumers/:consumer", "queues", (p) => {
    const q = queueOr404(p.queue);
    q.consumers = q.consumers.filter((c) => c.consumer_id !== p.consumer);
    return null;
  });

  // --- R2 event notifications -------------------------------------------------------------------
  const ruleOverlaps = (a, b) =>
    (a.prefix ?? "").startsWith(b.prefix ?? "") || (b.prefix ?? "").startsWith(a.prefix ?? "")
      ? (a.suffix ?? "").endsWith(b.suffix ?? "") || (b.suffix ?? "").endsWith(a.suffix ?? "")
      : false;
  on("GET", "/accounts/:account/event_notifications/r2/:bucket/configuration", "r2", (p) => {
    bucketOr404(p.bucket);
    const byQueue = state.notifications.get(p.bucket) ?? new Map();
    return {
      bucketName: p.bucket,
      queues: [...byQueue.entries()].map(([queueId, rules]) => ({ queueId, queueName: queueOr404(queueId).queue_name, rules })),
    };
  });
  on("PUT", "/accounts/:account/event_notifications/r2/:bucket/configuration/queues/:queue", "r2", (p, body) => {
    bucketOr404(p.bucket);
    const q = queueOr404(p.queue);
    const byQueue = state.notifications.get(p.bucket) ?? new Map();
    const added = [];
    for (const rule of body?.rules ?? []) {
      if (!rule.actions?.length) throw new ApiError(400, 11013, "A rule needs at least one action");
      for (const existing of [...byQueue.values()].flat()) {
        if (ruleOverlaps(existing, rule) && existing.actions.some((a) => rule.actions.includes(a))) {
          throw new ApiError(409, 11012, `An overlapping rule exists for bucket '${p.bucket}' (rule ${existing.ruleId})`);
        }
      }
      added.push({ ruleId: hexId(), createdAt: now(), prefix: rule.prefix ?? "", suffix: rule.suffix ?? "", actions: rule.actions, ...(rule.description ? { description: rule.description } : {}) });
    }
    byQueue.set(q.queue_id, [...(byQueue.get(q.queue_id) ?? []), ...added]);
    state.notifications.set(p.bucket, byQueue);
    q.producers = q.producers.some((x) => x.bucket_name === p.bucket) ? q.producers : [...q.producers, { type: "r2_bucket", bucket_name: p.bucket }];
    return null;
  });
  on("DELETE", "/accounts/:account/event_notifications/r2/:bucket/configuration/queues/:queue", "r2", (p, body) => {
    const byQueue = state.notifications.get(p.bucket);
    if (!byQueue?.has(p.queue)) throw notFound(11014, "No rules for that queue");
    const ids = body?.ruleIds;
    if (ids) byQueue.set(p.queue, byQueue.get(p.queue).filter((r) => !ids.includes(r.ruleId)));
    else byQueue.delete(p.queue);
    return null;
  });

  // --- Workers ----------------------------------------------------------------------------------
  const scriptOr404 = (name) => {
    const s = state.scripts.get(name);
    if (!s) throw notFound(10007, `This Worker does not exist on your account. [code: 10007]`);
    return s;
  };
  const scriptView = (s) => ({
    id: s.name,
    tag: s.tag,
    tags: s.tags,
    etag: s.etag,
    created_on: s.created_on,
    modified_on: s.modified_on,
    migration_tag: s.migration_tag,
    last_deployed_from: "wrangler",
    usage_model: "standard",
    compatibility_date: s.metadata.compatibility_date,
    handlers: ["fetch"],
  });
  on("GET", "/accounts/:account/workers/subdomain", "workers", () => ({ subdomain: state.subdomain }));
  on("GET", "/accounts/:account/workers/scripts", "workers", () => [...state.scripts.values()].map(scriptView));
  on("GET", "/accounts/:account/workers/services/:name", "workers", (p) => {
    const s = scriptOr404(p.name);
    return { id: s.name, default_environment: { environment: "production", script: scriptView(s), created_on: s.created_on, modified_on: s.modified_on } };
  });
  on("GET", "/accounts/:account/workers/scripts/:name/settings", "workers", (p) => ({ bindings: scriptOr404(p.name).bindings }));
  on("GET", "/accounts/:account/workers/durable_objects/namespaces", "workers", () => [...state.durableObjects.values()]);

  // Script upload (PUT, first deploy or with migrations) and version upload (POST versions).
  const upload = async (name, form, { asVersion }) => {
    const part = form.get("metadata");
    const metadata = JSON.parse(typeof part === "string" ? part : await part.text());
    const modules = [];
    for (const [key, value] of form.entries()) {
      if (key === "metadata") continue;
      modules.push({ name: key, type: value.type, size: value.size });
    }
    if (!modules.some((m) => m.name === metadata.main_module)) {
      throw new ApiError(400, 10021, `main_module ${metadata.main_module} is not among the uploaded parts`);
    }
    const previous = state.scripts.get(name);
    if (asVersion && !previous) throw notFound(10007, "This Worker does not exist on your account.");
    const migrationTag = applyMigrations(name, previous, metadata.migrations);
    const bindings = resolveBindings(name, previous, metadata);
    const s = previous ?? { name, created_on: now(), tag: hexId(), tags: [], secrets: new Map(), schedules: [], subdomain: { enabled: false, previews_enabled: false }, versions: [], deployments: [] };
    s.modified_on = now();
    s.etag = hexId();
    s.metadata = metadata;
    s.modules = modules;
    s.bindings = bindings;
    s.migration_tag = migrationTag;
    const version = { id: randomUUID(), number: s.versions.length + 1, created_on: now(), bindings };
    s.versions.push(version);
    if (!asVersion) s.deployments.push({ id: randomUUID(), versions: [{ version_id: version.id, percentage: 100 }] });
    state.scripts.set(name, s);
    return { s, version };
  };

  /** Bindings after an upload: `inherit` and kept types come from the previous version, secrets always do. */
  function resolveBindings(name, previous, metadata) {
    const before = previous?.bindings ?? [];
    const out = [];
    for (const b of metadata.bindings ?? []) {
      if (b.type === "inherit") {
        const old = before.find((x) => x.name === b.name);
        if (!old) throw new ApiError(400, 10057, `inherit binding '${b.name}' is invalid: no such binding on the previous version`);
        out.push(old);
        continue;
      }
      if (b.type === "r2_bucket" && !state.buckets.has(b.bucket_name)) {
        throw new ApiError(400, 10085, `R2 bucket '${b.bucket_name}' not found (binding ${b.name})`);
      }
      if (b.type === "queue" && !queueByName(b.queue_name)) {
        throw new ApiError(400, 11000, `Queue '${b.queue_name}' not found (binding ${b.name})`);
      }
      if (b.type === "durable_object_namespace" && !b.script_name && !state.durableObjects.has(`${name}:${b.class_name}`)) {
        throw new ApiError(
          400,
          10061,
          `Cannot create binding for class '${b.class_name}' because it is not currently configured to implement Durable Objects. Did you forget to add a migration?`,
        );
      }
      out.push(b.type === "secret_text" ? { name: b.name, type: b.type } : b);
    }
    const keep = new Set(["secret_text", "secret_key", ...(metadata.keep_bindings ?? [])]);
    for (const old of before) {
      if (keep.has(old.type) && !out.some((b) => b.name === old.name)) out.push(old);
    }
    return out;
  }

  /** Applies `metadata.migrations` ({old_tag, new_tag, steps}) to the script's Durable Object classes. */
  function applyMigrations(name, previous, migrations) {
    const current = previous?.migration_tag;
    if (!migrations) return current;
    if ((migrations.old_tag ?? undefined) !== current) {
      throw new ApiError(400, 10079, `Migration old_tag '${migrations.old_tag}' does not match the script's current tag '${current}'`);
    }
    for (const step of migrations.steps ?? []) {
      const sqlite = step.new_sqlite_classes ?? [];
      for (const cls of [...(step.new_classes ?? []), ...sqlite]) {
        const key = `${name}:${cls}`;
        if (state.durableObjects.has(key)) throw new ApiError(400, 10074, `Durable Object class '${cls}' already exists`);
        state.durableObjects.set(key, { id: hexId(), name: `${name}_${cls}`, script: name, class: cls, use_sqlite: sqlite.includes(cls) });
      }
      for (const cls of step.deleted_classes ?? []) state.durableObjects.delete(`${name}:${cls}`);
      for (const { from, to } of step.renamed_classes ?? []) {
        const ns = state.durableObjects.get(`${name}:${from}`);
        if (!ns) throw new ApiError(400, 10075, `No Durable Object class '${from}' to rename`);
        state.durableObjects.delete(`${name}:${from}`);
        state.durableObjects.set(`${name}:${to}`, { ...ns, class: to });
      }
    }
    return migrations.new_tag;
  }

  on("PUT", "/accounts/:account/workers/scripts/:name", "workers", async (p, form) => {
    const { s } = await upload(p.name, form, { asVersion: false });
    return { ...scriptView(s), startup_time_ms: 1 };
  });
  on("POST", "/accounts/:account/workers/scripts/:name/versions", "workers", async (p, form) => {
    const { s, version } = await upload(p.name, form, { asVersion: true });
    return { id: version.id, number: version.number, resources: { script: { etag: s.etag }, bindings: version.bindings }, startup_time_ms: 1 };
  });
  on("POST", "/accounts/:account/workers/scripts/:name/deployments", "workers", (p, body) => {
    const s = scriptOr404(p.name);
    for (const v of body?.versions ?? []) {
      if (!s.versions.some((x) => x.id === v.version_id)) throw notFound(10216, `Version ${v.version_id} not found`);
    }
    const d = { id: randomUUID(), created_on: now(), strategy: body?.strategy, versions: body?.versions ?? [] };
    s.deployments.push(d);
    return d;
  });
  on("GET", "/accounts/:account/workers/scripts/:name/deployments", "workers", (p) => ({ deployments: scriptOr404(p.name).deployments }));
  on("PATCH", "/accounts/:account/workers/scripts/:name/script-settings", "workers", (p, body) => {
    const s = scriptOr404(p.name);
    s.settings = { ...(s.settings ?? {}), ...(body ?? {}) };
    return s.settings;
  });
  on("GET", "/accounts/:account/workers/scripts/:name/subdomain", "workers", (p) => scriptOr404(p.name).subdomain);
  on("POST", "/accounts/:account/workers/scripts/:name/subdomain", "workers", (p, body) => {
    const s = scriptOr404(p.name);
    s.subdomain = { enabled: Boolean(body?.enabled), previews_enabled: Boolean(body?.previews_enabled ?? body?.enabled) };
    return s.subdomain;
  });
  on("GET", "/accounts/:account/workers/scripts/:name/schedules", "workers", (p) => ({ schedules: scriptOr404(p.name).schedules }));
  on("PUT", "/accounts/:account/workers/scripts/:name/schedules", "workers", (p, body) => {
    const s = scriptOr404(p.name);
    s.schedules = (body ?? []).map(({ cron }) => ({ cron, created_on: now(), modified_on: now() }));
    return { schedules: s.schedules };
  });
  on("GET", "/accounts/:account/workers/scripts/:name/secrets", "workers", (p) =>
    [...scriptOr404(p.name).secrets.keys()].map((n) => ({ name: n, type: "secret_text" })),
  );
  on("PUT", "/accounts/:account/workers/scripts/:name/secrets", "workers", (p, body) => {
    const s = scriptOr404(p.name);
    if (!body?.name || typeof body.text !== "string") throw new ApiError(400, 10021, "A secret needs a name and a text");
    s.secrets.set(body.name, body.text);
    s.bindings = [...(s.bindings ?? []).filter((b) => b.name !== body.name), { name: body.name, type: "secret_text" }];
    return { name: body.name, type: "secret_text" };
  });
  on("DELETE", "/accounts/:account/workers/scripts/:name/secrets/:secret", "workers", (p) => {
    const s = scriptOr404(p.name);
    s.secrets.delete(p.secret);
    s.bindings = (s.bindings ?? []).filter((b) => b.name !== p.secret);
    return null;
  });

  // ---------------------------------------------------------------------------------------------
  // R2 Data Catalog's Iceberg REST endpoint: <host>/<account>/<bucket>/v1/... with the catalog
  // token as a bearer token. Like R2, 401/403 have plain-text bodies.
  let upstreamToken = null;
  async function catalogRest(req, url, body) {
    const text = (status, message) => ({ status, headers: { "content-type": "text/plain" }, body: message });
    const iceberg = (status, type, message) => ({
      status,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ error: { message, type, code: status } }),
    });
    const m = /^\/r2-data-catalog\/([^/]+)\/([^/]+)(\/v1\/.*)$/.exec(url.pathname);
    if (!m) return iceberg(404, "NotFoundException", `no catalog route ${url.pathname}`);
    const [, acct, bucket, rest] = m;
    const auth = tokens.get(bearer(req));
    if (!auth) return text(401, "Unauthorized: the token is not valid");
    if (!auth.permissions.has("catalog") || auth.accountId !== acct) return text(403, "Forbidden: the token has no R2 Data Catalog access to this account");
    if (acct !== accountId || !state.catalogs.get(bucket) || state.catalogs.get(bucket).status !== "active") {
      return iceberg(404, "NoSuchWarehouseException", `Warehouse ${acct}_${bucket} not found: is R2 Data Catalog enabled on bucket '${bucket}'?`);
    }
    const warehouse = `${acct}_${bucket}`;
    if (rest === "/v1/config" && url.searchParams.get("warehouse") !== warehouse) {
      return iceberg(404, "NoSuchWarehouseException", `Warehouse ${url.searchParams.get("warehouse")} not found`);
    }
    const up = opts.catalogUpstream;
    if (!up) {
      if (rest === "/v1/config") {
        return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ defaults: {}, overrides: { prefix: warehouse } }) };
      }
      return iceberg(503, "ServiceUnavailableException", "the stand-in has no upstream catalog");
    }
    // Forward to the upstream catalog, with its warehouse and its own credentials.
    const target = new URL(up.uri.replace(/\/+$/, "") + rest);
    for (const [k, v] of url.searchParams) target.searchParams.set(k, k === "warehouse" ? up.warehouse : v);
    const headers = { accept: "application/json" };
    if (req.headers["content-type"]) headers["content-type"] = req.headers["content-type"];
    const send = async () => {
      upstreamToken ??= await mintUpstreamToken(up);
      return fetch(target, {
        method: req.method,
        headers: { ...headers, ...(upstreamToken ? { authorization: `Bearer ${upstreamToken}` } : {}) },
        body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
        signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
      });
    };
    let r = await send();
    if (r.status === 401) {
      upstreamToken = null;
      r = await send();
    }
    return { status: r.status, headers: { "content-type": r.headers.get("content-type") ?? "application/json" }, body: Buffer.from(await r.arrayBuffer()) };
  }

  await new Promise((resolve) => server.listen(opts.port ?? 0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    accountId,
    state,
    calls,
    url: base,
    apiUrl: `${base}${API_PREFIX}`,
    catalogHost: `${base}${CATALOG_PREFIX}`,
    /** Calls that change state (anything but GET), optionally since index `from`. */
    mutations: (from = 0) => calls.slice(from).filter((c) => c.method !== "GET" && c.method !== "HEAD"),
    /** Adds or replaces a token. */
    setToken(token, permissions, tokenAccountId = accountId) {
      tokens.set(token, { permissions: new Set(permissions), accountId: tokenAccountId });
    },
    queueByName,
    /** Stops the server, its open (keep-alive) connections included. */
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  };
}

function bearer(req) {
  const h = req.headers.authorization ?? "";
  return h.startsWith("Bearer ") ? h.slice("Bearer ".length) : null;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** JSON bodies as objects, multipart (Worker uploads) as FormData, anything else as text. */
async function parseBody(req, body) {
  const type = req.headers["content-type"] ?? "";
  if (body.length === 0) return undefined;
  if (type.startsWith("multipart/form-data")) {
    return new Response(body, { headers: { "content-type": type } }).formData();
  }
  const s = body.toString("utf8");
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** OAuth2 client credentials against the upstream catalog (the local stack's), or null without them. */
async function mintUpstreamToken(up) {
  if (!up.credential) return null;
  const [id, secret] = up.credential.split(":");
  const r = await fetch(up.uri.replace(/\/+$/, "") + "/v1/oauth/tokens", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: id, client_secret: secret, scope: "catalog" }),
    signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
  });
  if (!r.ok) throw new Error(`upstream catalog token: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()).access_token;
}

export { CREATE_ACTIONS };
