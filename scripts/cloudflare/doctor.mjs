// scripts/doctor [--env ENV]: checks a deployment end to end and names the fix for each failure.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { CloudflareApi, CloudflareError, hasRawRule } from "./cloudflare.mjs";
import { catalogHost, catalogVars, CREATE_ACTIONS, readDeployment, RULE } from "./deployment.mjs";
import { parseArgs, run } from "./cli.mjs";
import { CatalogHttpError, IcebergRest } from "./iceberg.mjs";
import { adminTokenFile, SecretValues } from "./secrets.mjs";

const USAGE = `scripts/doctor [--env ENV] [--no-canary] [--canary-timeout SECONDS] [--json]

Checks the deployment of ENV (none: the top level) and names the fix for each failure: the
deploy credentials; buckets; R2 Data Catalog enabled; CATALOG_URI and WAREHOUSE right (account,
bucket); the catalog token valid, with R2 Storage and R2 Data Catalog permissions, accepted by
the catalog; the Workers deployed with their secrets and current vars; the queue consumer and the
dead-letter queue (empty, or what is in it and how to replay it); the notification rule;
compaction; both Workers' /health; and a canary event pushed through the ingest Worker
(POST /events/icepipe_doctor/canary) until the table <NAMESPACE_ROOT>.icepipe_doctor.canary
holds it, as the convert Worker's GET /audit reads the table's ledger.

Values: CATALOG_TOKEN and ADMIN_TOKEN from the environment (ADMIN_TOKEN also from the file setup
keeps when it generated it), or asked for at a terminal; without them those checks are skipped.
ICEPIPE_CONVERT_URL / ICEPIPE_INGEST_URL: the Workers' URLs when not <name>.<subdomain>.workers.dev.
Exit status: 0 when nothing failed, 1 otherwise.`;

const CANARY_SOURCE = "icepipe_doctor";
const CANARY_RESOURCE = "canary";

class Report {
  constructor(json) {
    this.json = json;
    this.results = [];
  }

  add(status, check, detail, fix) {
    this.results.push({ status, check, detail, ...(fix ? { fix } : {}) });
    if (!this.json) {
      const tag = { ok: "ok  ", warn: "WARN", fail: "FAIL", skip: "skip" }[status];
      process.stderr.write(`  ${tag} ${check}: ${detail}\n${fix ? `       fix: ${fix.replace(/\n/g, "\n            ")}\n` : ""}`);
    }
  }

  ok = (c, d) => this.add("ok", c, d);
  warn = (c, d, f) => this.add("warn", c, d, f);
  fail = (c, d, f) => this.add("fail", c, d, f);
  skip = (c, d, f) => this.add("skip", c, d, f);
  get failed() {
    return this.results.filter((r) => r.status === "fail").length;
  }
}

/** The account and bucket a catalog URI names (`<host>/<account>/<bucket>`), or null. */
function parseCatalogUri(uri) {
  const m = /^(https?:\/\/.+)\/([0-9a-f]{32})\/([a-z0-9][a-z0-9-]{1,61}[a-z0-9])\/?$/.exec(uri ?? "");
  return m ? { host: m[1], account: m[2], bucket: m[3] } : null;
}

async function main(argv) {
  const args = parseArgs(argv, { values: ["env", "canary-timeout"], flags: ["no-canary", "json"] }, USAGE);
  const d = readDeployment(args.env);
  const report = new Report(args.json);
  const setup = `scripts/setup${args.env ? ` --env ${args.env}` : ""}`;
  const deployCmd = (s) => `scripts/deploy ${s}${args.env ? ` --env ${args.env}` : ""}`;
  const convert = d.stages.convert;
  const ingest = d.stages.ingest;
  if (!args.json) process.stderr.write(`==> doctor ${d.label}\n`);

  // Deploy credentials.
  let api;
  try {
    api = await CloudflareApi.connect({ configAccountId: d.accountId });
  } catch (e) {
    report.fail("credentials", e.message, "export CLOUDFLARE_API_TOKEN=<token> (README: Deploy to Cloudflare) or `npx wrangler login`");
    return finish(report, args);
  }
  if (api.authType === "api_token") {
    const v = await verifyToken(api, null);
    if (v.ok) report.ok("deploy token", `active (${v.kind}), account ${api.accountId}`);
    else report.fail("deploy token", v.detail, "create a new API token (README: Deploy to Cloudflare) and export CLOUDFLARE_API_TOKEN");
  } else {
    report.ok("deploy credentials", `${api.authType}, account ${api.accountId}`);
  }

  // Buckets and the catalog.
  for (const bucket of [d.rawBucket, d.catalogBucket]) {
    const b = await tryApi(report, `R2 bucket ${bucket}`, () => api.bucket(bucket));
    if (b === undefined) continue;
    if (b) report.ok(`R2 bucket ${bucket}`, `exists (${b.location ?? "?"})`);
    else report.fail(`R2 bucket ${bucket}`, "does not exist", setup);
  }
  const catalog = await tryApi(report, "R2 Data Catalog", () => api.catalog(d.catalogBucket));
  const catalogEnabled = catalog?.status === "active";
  if (catalogEnabled) {
    report.ok("R2 Data Catalog", `enabled on ${d.catalogBucket}, warehouse ${catalog.name}`);
  } else if (catalog !== undefined) {
    report.fail("R2 Data Catalog", `not enabled on ${d.catalogBucket}`, `npx wrangler r2 bucket catalog enable ${d.catalogBucket} (or ${setup})`);
  }

  // CATALOG_URI / WAREHOUSE: in the config, and in the deployed Worker.
  const want = catalogVars(api.accountId, d.catalogBucket);
  const uri = convert.vars.CATALOG_URI;
  const warehouse = convert.vars.WAREHOUSE;
  const table = `${path.basename(convert.file)} ${args.env ? `[env.${args.env}.vars]` : "[vars]"}`;
  let varsRight = false;
  if (!uri || !warehouse) {
    report.fail("catalog URI", `CATALOG_URI or WAREHOUSE missing from ${table}`, setup);
  } else {
    const parsed = parseCatalogUri(uri);
    const problems = [];
    if (!parsed) problems.push(`CATALOG_URI ${uri} is not <host>/<account id>/<bucket>`);
    else {
      if (parsed.account !== api.accountId) problems.push(`CATALOG_URI names account ${parsed.account}, the deployment is in account ${api.accountId} (wrong account in the URI)`);
      if (parsed.bucket !== d.catalogBucket) problems.push(`CATALOG_URI names bucket ${parsed.bucket}, the CATALOG binding is ${d.catalogBucket} (wrong bucket in the URI)`);
      if (parsed.host !== catalogHost()) problems.push(`CATALOG_URI's host is ${parsed.host}, R2 Data Catalog's is ${catalogHost()}`);
    }
    if (warehouse !== want.WAREHOUSE) problems.push(`WAREHOUSE is ${warehouse}, the catalog bucket's warehouse is ${want.WAREHOUSE}`);
    if (problems.length) report.fail("catalog URI", problems.join("; "), `${setup} (rewrites them in ${table}), then ${deployCmd("convert")}`);
    else {
      varsRight = true;
      report.ok("catalog URI", `${uri}, warehouse ${warehouse}`);
    }
  }

  // The Workers: deployed with what the config says (bindings, vars), and their secrets.
  for (const s of [convert, ingest]) {
    const w = await tryApi(report, `Worker ${s.name}`, () => api.worker(s.name));
    if (w === undefined) continue;
    if (!w) {
      report.fail(`Worker ${s.name}`, "not deployed", deployCmd(s.stage));
      continue;
    }
    const settings = await tryApi(report, `Worker ${s.name}`, () => api.get(`@/workers/scripts/${s.name}/settings`));
    if (settings === undefined) continue;
    const drift = bindingDrift(s.config, settings.bindings ?? []);
    if (drift.length) {
      report.fail(`Worker ${s.name}`, `deployed, but not as configured: ${drift.join("; ")}`, deployCmd(s.stage));
    } else {
      report.ok(`Worker ${s.name}`, `deployed as configured, last modified ${w.default_environment?.script?.modified_on ?? "?"}`);
    }
    const names = new Set((await api.secretNames(s.name)) ?? []);
    const missing = s.secrets.filter((n) => !names.has(n));
    if (missing.length) report.fail(`secrets of ${s.name}`, `missing: ${missing.join(", ")}`, setup);
    else report.ok(`secrets of ${s.name}`, s.secrets.join(", "));
  }

  // The catalog token: valid, with storage and catalog permissions, accepted by the catalog.
  const secrets = new SecretValues(args.env, (n) => (n === "CATALOG_TOKEN" ? "the token setup put as the convert Worker's CATALOG_TOKEN" : "the Workers' ADMIN_TOKEN"));
  const catalogToken = await secrets.get("CATALOG_TOKEN");
  let rest = null;
  if (!catalogToken) {
    report.skip("catalog token", "CATALOG_TOKEN not given", "export CATALOG_TOKEN=<the token the convert Worker uses> and run doctor again");
  } else {
    const v = await verifyToken(api, catalogToken);
    if (!v.ok) report.fail("catalog token", `CATALOG_TOKEN is not a valid API token: ${v.detail}`, "create an API token with R2 Data Catalog Write and R2 Storage Write, then " + setup + " --rotate CATALOG_TOKEN");
    else {
      report.ok("catalog token", `valid (${v.kind})`);
      const storage = await permission(api, catalogToken, `@/r2/buckets/${d.catalogBucket}`);
      if (storage === true) report.ok("catalog token: R2 Storage", `can read bucket ${d.catalogBucket}`);
      else report.fail("catalog token: R2 Storage", storage, `give the token "Workers R2 Storage: Edit" on this account, or ${setup} --rotate CATALOG_TOKEN with one that has it`);
      const catalogPerm = await permission(api, catalogToken, `@/r2-catalog/${d.catalogBucket}`);
      if (catalogPerm === true) report.ok("catalog token: R2 Data Catalog", "has access");
      else report.fail("catalog token: R2 Data Catalog", catalogPerm, `give the token "Workers R2 Data Catalog: Edit", or ${setup} --rotate CATALOG_TOKEN with one that has it`);
      if (uri && warehouse) {
        rest = new IcebergRest(uri, warehouse, catalogToken);
        try {
          await rest.config();
          report.ok("catalog REST", `${uri} serves warehouse ${warehouse} (prefix ${rest.prefix || "none"})`);
        } catch (e) {
          rest = null;
          report.fail("catalog REST", e.message, restFix(e, { catalogEnabled, varsRight, setup, bucket: d.catalogBucket }));
        }
      }
    }
  }

  // Queue, consumer, dead-letter queue, notification rule.
  const queue = await tryApi(report, `queue ${d.queue}`, () => api.queue(d.queue));
  if (queue === null) report.fail(`queue ${d.queue}`, "does not exist", setup);
  else if (queue) {
    const consumer = (queue.consumers ?? []).find((c) => c.type === "worker" && (c.script === convert.name || c.service === convert.name));
    if (!consumer) {
      const others = (queue.consumers ?? []).map((c) => `${c.type}:${c.script ?? c.service ?? "?"}`).join(", ") || "none";
      report.fail("queue consumer", `${convert.name} does not consume ${d.queue} (consumers: ${others})`, deployCmd("convert"));
    } else if (consumer.dead_letter_queue !== d.deadLetterQueue) {
      report.fail("queue consumer", `dead-letter queue is ${consumer.dead_letter_queue ?? "none"}, the config says ${d.deadLetterQueue}`, deployCmd("convert"));
    } else {
      report.ok("queue consumer", `${convert.name} consumes ${d.queue} (batch ${consumer.settings?.batch_size ?? "?"}, retries ${consumer.settings?.max_retries ?? "?"}, dead letters to ${d.deadLetterQueue})`);
    }
  }
  const dlq = await tryApi(report, `dead-letter queue ${d.deadLetterQueue}`, () => api.queue(d.deadLetterQueue));
  if (dlq === null) report.fail(`dead-letter queue ${d.deadLetterQueue}`, "does not exist", setup);
  else if (dlq) {
    const m = await tryApi(report, "dead-letter queue", () => api.get(`@/queues/${dlq.queue_id}/metrics`));
    if (m && m.backlog_count > 0) {
      const oldest = m.oldest_message_timestamp_ms ? new Date(m.oldest_message_timestamp_ms) : null;
      // A dead-lettered notification names a raw object that failed 10 deliveries; the objects
      // landed before the oldest message (by at most the retries' total delay, about 8.5 h).
      const since = oldest ? new Date(oldest.getTime() - 24 * 3600_000).toISOString() : null;
      const body = JSON.stringify({ prefix: "sources/", ...(since ? { since } : {}) });
      const curl = `curl -X POST ${workerUrlHint(convert)}/replay -H "Authorization: Bearer $ADMIN_TOKEN" -d '${body}'`;
      report.fail(
        "dead-letter queue",
        `${m.backlog_count} message(s) (${m.backlog_bytes} bytes) in ${d.deadLetterQueue}${oldest ? `, oldest from ${oldest.toISOString()}` : ""}: raw objects the convert Worker gave up on after ${d.consumer.max_retries ?? "?"} deliveries (see them in the dashboard: Queues > ${d.deadLetterQueue} > Messages; the cause in \`npx wrangler tail ${convert.name}\`)`,
        `once the cause is fixed, replay them (already-committed objects are skipped by the ledger; "dry_run": true counts first):\n${curl}\nthen empty the dead-letter queue: npx wrangler queues purge ${d.deadLetterQueue} --force`,
      );
    } else if (m) report.ok("dead-letter queue", `${d.deadLetterQueue} is empty`);
  }
  const rules = await tryApi(report, "notification rule", () => api.notificationRules(d.rawBucket));
  if (rules) {
    if (hasRawRule(rules, d.queue, RULE, CREATE_ACTIONS)) report.ok("notification rule", `${d.rawBucket}: object-create ${RULE.prefix}*${RULE.suffix} -> ${d.queue}`);
    else report.fail("notification rule", `${d.rawBucket} sends no object-create ${RULE.prefix}*${RULE.suffix} notifications to ${d.queue}`, setup);
  }
  if (catalogEnabled) {
    const c = catalog.maintenance_config?.compaction;
    if (c?.state === "enabled" && catalog.credential_status === "present") report.ok("compaction", `enabled (target ${c.target_size_mb} MB)`);
    else report.warn("compaction", `${c?.state ?? "disabled"}, credential ${catalog.credential_status ?? "absent"}: small files pile up`, `CATALOG_TOKEN=... ${setup}`);
  }

  // Both Workers' /health.
  const subdomain = await api.getOr("@/workers/subdomain", null, { codes: [10007] }).catch(() => null);
  const urls = {
    convert: process.env.ICEPIPE_CONVERT_URL ?? (subdomain ? `https://${convert.name}.${subdomain.subdomain}.workers.dev` : null),
    ingest: process.env.ICEPIPE_INGEST_URL ?? (subdomain ? `https://${ingest.name}.${subdomain.subdomain}.workers.dev` : null),
  };
  const healthy = {};
  for (const s of [convert, ingest]) {
    const url = urls[s.stage]?.replace(/\/+$/, "");
    if (!url) {
      report.fail(`${s.stage} /health`, "no workers.dev subdomain on the account and no ICEPIPE_" + s.stage.toUpperCase() + "_URL", "register a workers.dev subdomain in the dashboard (Workers & Pages), or set the URL");
      continue;
    }
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(15_000) });
      const body = await r.text();
      if (r.ok) {
        healthy[s.stage] = url;
        report.ok(`${s.stage} /health`, `${url}/health: ${body.slice(0, 120)}`);
      } else report.fail(`${s.stage} /health`, `${url}/health: HTTP ${r.status} ${body.slice(0, 200)}`, `${deployCmd(s.stage)}; logs: npx wrangler tail ${s.name}`);
    } catch (e) {
      report.fail(`${s.stage} /health`, `${url}/health: ${e.cause?.message ?? e.message}`, `${deployCmd(s.stage)} (is workers.dev enabled for it?)`);
    }
  }

  // The canary: an event through the ingest Worker until its row is committed in the table.
  if (args["no-canary"]) report.skip("canary", "--no-canary");
  else if (!healthy.ingest) report.skip("canary", "the ingest Worker is not healthy");
  else if (!healthy.convert) report.skip("canary", "the convert Worker is not healthy (it answers whether the canary is committed)");
  else if (!rest) report.skip("canary", "the catalog cannot be read (see above)");
  else {
    const adminToken = await secrets.get("ADMIN_TOKEN");
    if (!adminToken) report.skip("canary", "ADMIN_TOKEN not given", `export ADMIN_TOKEN=<the Workers' admin token> (setup keeps a generated one in ${adminTokenFile(args.env)})`);
    else await canary(report, { url: healthy.ingest, convertUrl: healthy.convert, adminToken, root: convert.vars.NAMESPACE_ROOT ?? "analytics", timeoutS: Number(args["canary-timeout"] ?? 180), d });
  }
  return finish(report, args);
}

async function canary(report, { url, convertUrl, adminToken, root, timeoutS, d }) {
  const id = randomUUID();
  const sentAt = new Date().toISOString();
  const res = await fetch(`${url}/events/${CANARY_SOURCE}/${CANARY_RESOURCE}`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json", "idempotency-key": `doctor-${id}` },
    body: JSON.stringify([{ canary_id: id, sent_at: sentAt, environment: d.env ?? "default" }]),
    signal: AbortSignal.timeout(60_000),
  }).catch((e) => ({ ok: false, status: 0, text: async () => e.message }));
  if (!res.ok) {
    const body = await res.text();
    report.fail("canary", `POST /events/${CANARY_SOURCE}/${CANARY_RESOURCE}: HTTP ${res.status} ${body.slice(0, 200)}`, res.status === 401 ? "ADMIN_TOKEN differs from the ingest Worker's: scripts/setup --rotate ADMIN_TOKEN" : `logs: npx wrangler tail ${d.stages.ingest.name}`);
    return;
  }
  const answer = await res.json();
  const keys = answer.files ?? [];
  const namespace = [...root.split("."), CANARY_SOURCE];
  const tableName = `${namespace.join(".")}.${CANARY_RESOURCE}`;
  const started = Date.now();
  let last = "the table does not exist yet";
  while (Date.now() - started < timeoutS * 1000) {
    try {
      const held = await canaryHeld(convertUrl, adminToken, tableName, keys, sentAt);
      if (held.done) {
        report.ok("canary", `event ${id} landed as ${keys.join(", ")} and is committed in ${tableName} (snapshot ${held.snapshot}) after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return;
      }
      last = held.last;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  report.fail(
    "canary",
    `event ${id} landed as ${keys.join(", ")} but was not committed in ${tableName} within ${timeoutS} s (${last})`,
    `follow it: npx wrangler tail ${d.stages.convert.name} (batch lines), the dead-letter queue above, the notification rule on ${d.rawBucket}; a slow queue: --canary-timeout 600`,
  );
}

/**
 * Whether the table holds the canary's raw objects, as the convert Worker's GET /audit reads the
 * table's exactly-once ledger (kept in ledger files, not in snapshot summaries: only icepipe reads
 * it). Raw objects modified from a minute before the push are audited (clock skew).
 */
async function canaryHeld(convertUrl, adminToken, tableName, keys, sentAt) {
  const since = new Date(Date.parse(sentAt) - 60_000).toISOString();
  const r = await fetch(`${convertUrl}/audit?table=${encodeURIComponent(tableName)}&since=${encodeURIComponent(since)}`, {
    headers: { authorization: `Bearer ${adminToken}` },
    signal: AbortSignal.timeout(60_000),
  });
  if (!r.ok) return { done: false, last: `GET /audit on the convert Worker: HTTP ${r.status} ${(await r.text()).slice(0, 200)}` };
  const audit = (await r.json()).tables?.find((t) => t.table === tableName);
  if (!audit?.exists) return { done: false, last: `${tableName} does not exist yet` };
  const pending = keys.filter((k) => audit.unaccounted.includes(k));
  if (pending.length || audit.held < keys.length) {
    return { done: false, last: `${tableName} does not hold ${(pending.length ? pending : keys).join(", ")} yet (held ${audit.held}, recorded errors ${audit.recorded})` };
  }
  return { done: true, snapshot: audit.snapshot_id };
}

function finish(report, args) {
  const failed = report.failed;
  if (args.json) process.stdout.write(JSON.stringify({ ok: failed === 0, checks: report.results }, null, 2) + "\n");
  else process.stderr.write(failed ? `==> doctor: ${failed} check(s) failed\n` : "==> doctor: every check passed\n");
  return failed ? 1 : 0;
}

/**
 * How a deployed Worker's bindings differ from its config: bindings missing (setup's empty
 * placeholder Worker has none) and vars with other values (deployed from an older config).
 */
function bindingDrift(config, bindings) {
  const byName = new Map(bindings.map((b) => [b.name, b]));
  const expected = [
    ...(config.r2_buckets ?? []).map((b) => b.binding),
    ...(config.queues?.producers ?? []).map((p) => p.binding),
    ...(config.durable_objects?.bindings ?? []).map((b) => b.name),
  ];
  if (!bindings.some((b) => b.type !== "secret_text")) return ["only secrets: setup's placeholder, the code was never deployed"];
  const problems = [];
  const missing = expected.filter((n) => !byName.has(n));
  if (missing.length) problems.push(`bindings missing: ${missing.join(", ")}`);
  const differ = Object.entries(config.vars ?? {}).filter(([name, value]) => {
    const live = byName.get(name);
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return (live?.type === "plain_text" ? live.text : live?.type === "json" ? JSON.stringify(live.json) : undefined) !== text;
  });
  if (differ.length) problems.push(`vars that differ from the config: ${differ.map(([n]) => n).join(", ")}`);
  return problems;
}

/** Runs an API read; an API failure is reported as the check's failure (undefined returned). */
async function tryApi(report, check, fn) {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof CloudflareError)) throw e;
    report.fail(check, e.message, e.status === 403 ? "the deploy token lacks a permission (README: Deploy to Cloudflare lists them)" : undefined);
    return undefined;
  }
}

/** Whether `token` (null: wrangler's) is an active user or account API token. */
async function verifyToken(api, token) {
  const attempt = async (route, kind) => {
    const r = await api.get(route, { token: token ?? undefined });
    return r.status === "active" ? { ok: true, kind } : { ok: false, detail: `status ${r.status}` };
  };
  try {
    return await attempt("/user/tokens/verify", "user token");
  } catch (e) {
    if (!(e instanceof CloudflareError)) throw e;
    try {
      return await attempt("@/tokens/verify", "account token");
    } catch (e2) {
      return { ok: false, detail: e.status === 401 || e2.status === 401 ? "rejected (invalid, expired or revoked)" : e2.message };
    }
  }
}

/** true when `token` can GET `route` (a 404 passed the permission check too), else what the API said. */
async function permission(api, token, route) {
  try {
    await api.get(route, { token });
    return true;
  } catch (e) {
    if (!(e instanceof CloudflareError)) throw e;
    if (e.status === 404) return true;
    return e.status === 403 ? `the token is refused (HTTP 403, code ${e.code}): it lacks the permission` : e.message;
  }
}

/**
 * The fix for a failed catalog REST call, told apart as the seed guide's troubleshooting does:
 * catalog not enabled, wrong account or bucket in the URI (both known from the API and the config
 * before the call), then by status: wrong token (401), no catalog access (403), unknown warehouse.
 */
function restFix(e, { catalogEnabled, varsRight, setup, bucket }) {
  if (!(e instanceof CatalogHttpError)) return undefined;
  if (!catalogEnabled) return `catalog not enabled: npx wrangler r2 bucket catalog enable ${bucket} (or ${setup})`;
  if (!varsRight) return `wrong account or bucket in CATALOG_URI / WAREHOUSE (see the catalog URI check): ${setup}`;
  if (e.status === 401) return "wrong token: the catalog rejects CATALOG_TOKEN; create one with R2 Data Catalog + R2 Storage permissions and " + setup + " --rotate CATALOG_TOKEN";
  if (e.status === 403) return "the token has no R2 Data Catalog access to this account (another account's token, or the permission is missing): " + setup + " --rotate CATALOG_TOKEN";
  if (e.status === 404 || e.status === 400) return "the catalog does not know this warehouse: " + setup;
  if (e.status === 0) return "the catalog host cannot be reached: check CATALOG_URI and the network";
  return undefined;
}

function workerUrlHint(stage) {
  return process.env.ICEPIPE_CONVERT_URL ?? `https://${stage.name}.<your subdomain>.workers.dev`;
}

run(main);
