// scripts/setup, scripts/deploy and scripts/doctor run offline: the REAL wrangler (pinned,
// node_modules/.bin/wrangler) against a local stand-in of the Cloudflare API
// (harness/lib/cloudflare_api.mjs, through CLOUDFLARE_API_BASE_URL), for two environments, twice
// each; doctor's catalog checks read the local stack's catalog through the stand-in's R2 Data
// Catalog route, and its canary goes through the real Workers in workerd (Miniflare).
//
// The assertions are on behaviour (what exists afterwards, what a second run changes, what doctor
// reports), not on an exact list of bindings, so new bindings (Durable Objects, crons) keep them true.
//
// Needs: scripts/stack start, scripts/build-workers (convert and ingest).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseToml } from "smol-toml";
import { reportIfAbandoned, within } from "../lib/bounded.mjs";
import { ALL_PERMISSIONS, startCloudflareApi } from "../lib/cloudflare_api.mjs";
import { assertNothingLeftOpen } from "../lib/leftovers.mjs";
import { convertBuild, workerBuild } from "../lib/miniflare.mjs";
import { startPipeline } from "../lib/pipeline.mjs";
import { ROOT, run, stackRunning, stackSettings } from "../lib/stack.mjs";

const ENVIRONMENTS = ["staging", "production"];
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const DEPLOY_TOKEN = `deploy-${randomBytes(8).toString("hex")}`;
const CATALOG_TOKEN = `catalog-${randomBytes(8).toString("hex")}`;
// Every script run is bounded: wrangler against a local server takes seconds.
const SCRIPT_TIMEOUT_MS = 180_000;

let cf;
let dir; // a config dir: copies of the wrangler files, links to the rest of the repository
let stack;

before(async () => {
  assert.ok(convertBuild(), "crates/convert/build missing: run scripts/build-workers convert");
  assert.ok(workerBuild("ingest"), "crates/ingest/build missing: run scripts/build-workers ingest");
  assert.ok(await stackRunning(), "the local stack is not running: run scripts/stack start");
  stack = stackSettings();
  cf = await startCloudflareApi({
    accountId: ACCOUNT,
    tokens: { [DEPLOY_TOKEN]: ALL_PERMISSIONS, [CATALOG_TOKEN]: ["r2", "catalog"] },
    catalogUpstream: { uri: stack.catalogUri, warehouse: stack.warehouse, credential: stack.credential },
  });
  dir = mkdtempSync(path.join(os.tmpdir(), "icepipe-deploy-"));
  for (const f of ["wrangler.convert.toml", "wrangler.ingest.toml"]) cpSync(path.join(ROOT, f), path.join(dir, f));
  // wrangler resolves `main` and runs `[build] command` relative to the config file.
  for (const d of ["crates", "scripts", "config"]) symlinkSync(path.join(ROOT, d), path.join(dir, d));
}, { timeout: 60_000 });

after(async () => {
  if (cf) await within(10_000, "the stand-in Cloudflare API to close", cf.close());
  if (dir) rmSync(dir, { recursive: true, force: true });
}, { timeout: 60_000 });
after(assertNothingLeftOpen, { timeout: 120_000 });

/**
 * Runs scripts/<name> against the stand-in; resolves { code, out (stdout, then stderr), stdout }.
 * Bounded: after SCRIPT_TIMEOUT_MS it fails, naming the command, with everything it started killed.
 */
async function script(name, args, env = {}) {
  const childEnv = {
    CLOUDFLARE_API_BASE_URL: cf.apiUrl,
    CLOUDFLARE_API_TOKEN: DEPLOY_TOKEN,
    CATALOG_TOKEN,
    ADMIN_TOKEN: "",
    ICEPIPE_CONFIG_DIR: dir,
    ICEPIPE_DEPLOY_STATE_DIR: path.join(dir, "state"),
    ICEPIPE_CATALOG_HOST: cf.catalogHost,
    // scripts/test built the Workers just before: deploy need not build them again.
    ICEPIPE_PREBUILT: "convert,ingest",
    ...env,
  };
  // The account is found from the token (GET /accounts, wrangler: GET /memberships); an
  // undefined variable is left out of the child's environment.
  childEnv.CLOUDFLARE_ACCOUNT_ID = undefined;
  const r = await run(path.join(ROOT, "scripts", name), args, { env: childEnv, timeoutMs: SCRIPT_TIMEOUT_MS });
  return { code: r.code, out: r.stdout + r.stderr, stdout: r.stdout };
}

const expectOk = (r, what) => assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.out}`);

/** The environment's resolved settings, from the copied wrangler files (what the scripts read too). */
function envConfig(env) {
  const raw = (stage) => parseToml(readFileSync(path.join(dir, `wrangler.${stage}.toml`), "utf8"));
  const c = raw("convert");
  const i = raw("ingest");
  const ce = c.env[env];
  const ie = i.env[env];
  const bucket = (list, b) => list.find((x) => x.binding === b).bucket_name;
  return {
    convertName: ce.name,
    ingestName: ie.name,
    raw: bucket(ce.r2_buckets, "RAW"),
    catalog: bucket(ce.r2_buckets, "CATALOG"),
    queue: ce.queues.consumers[0].queue,
    dlq: ce.queues.consumers[0].dead_letter_queue,
    vars: ce.vars,
    crons: ie.triggers?.crons ?? i.triggers?.crons ?? [],
    migrations: ce.migrations ?? c.migrations ?? [],
  };
}

const uploads = (from, name) =>
  cf.calls.slice(from).filter((c) => (c.method === "PUT" && c.path.endsWith(`/workers/scripts/${name}`)) || (c.method === "POST" && c.path.endsWith(`/workers/scripts/${name}/versions`)));

describe("deploy scripts against a stand-in Cloudflare API (real wrangler)", () => {
  for (const env of ENVIRONMENTS) {
    test(`${env}: setup creates everything, a second setup changes nothing; deploy twice; doctor passes with a canary row`, { timeout: 600_000 }, async (t) => {
      const c0 = cf.calls.length;
      const first = await script("setup", ["--env", env]);
      expectOk(first, "first setup");
      const cfg = envConfig(env);

      // What exists now.
      for (const b of [cfg.raw, cfg.catalog]) assert.ok(cf.state.buckets.has(b), `bucket ${b}`);
      const catalog = cf.state.catalogs.get(cfg.catalog);
      assert.equal(catalog?.status, "active", "R2 Data Catalog enabled on the catalog bucket");
      assert.equal(catalog.maintenance_config.compaction.state, "enabled", "compaction on");
      assert.equal(catalog.credential_status, "present", "compaction credential");
      for (const q of [cfg.queue, cfg.dlq]) assert.ok(cf.queueByName(q), `queue ${q}`);
      const rules = [...(cf.state.notifications.get(cfg.raw)?.entries() ?? [])];
      assert.equal(rules.length, 1, "one queue gets the raw bucket's notifications");
      assert.equal(rules[0][0], cf.queueByName(cfg.queue).queue_id);
      assert.deepEqual(rules[0][1].map((r) => [r.prefix, r.suffix]), [["sources/", ".parquet"]]);
      assert.ok(rules[0][1][0].actions.includes("PutObject"));
      assert.deepEqual([...cf.state.scripts.get(cfg.convertName).secrets.keys()].sort(), ["ADMIN_TOKEN", "CATALOG_TOKEN"]);
      assert.equal(cf.state.scripts.get(cfg.convertName).secrets.get("CATALOG_TOKEN"), CATALOG_TOKEN);
      const admin = cf.state.scripts.get(cfg.convertName).secrets.get("ADMIN_TOKEN");
      assert.equal(cf.state.scripts.get(cfg.ingestName).secrets.get("ADMIN_TOKEN"), admin, "one ADMIN_TOKEN for both Workers");
      assert.equal(readFileSync(path.join(dir, "state", env, "ADMIN_TOKEN"), "utf8").trim(), admin, "the generated ADMIN_TOKEN is kept for doctor");
      assert.equal(cfg.vars.CATALOG_URI, `${cf.catalogHost}/${ACCOUNT}/${cfg.catalog}`);
      assert.equal(cfg.vars.WAREHOUSE, `${ACCOUNT}_${cfg.catalog}`);
      assert.equal(cfg.vars.ACCOUNT_ID, ACCOUNT);
      // Every change went through wrangler or the documented maintenance routes.
      assert.ok(cf.mutations(c0).some((c) => c.method === "POST" && c.path.endsWith("/r2/buckets")));
      assert.match(first.out, /change\(s\)/);
      for (const other of ENVIRONMENTS.filter((e) => e !== env)) {
        assert.notEqual(envConfig(other).raw, cfg.raw, "environments do not share buckets");
      }

      // Setup again: nothing changes, and it says so.
      const c1 = cf.calls.length;
      const second = await script("setup", ["--env", env]);
      expectOk(second, "second setup");
      assert.deepEqual(cf.mutations(c1), [], `the second setup changed something:\n${second.out}`);
      assert.match(second.out, /nothing to change/);
      assert.doesNotMatch(second.out, /\[create\]|\[write\]/);

      // Deploy: convert, then ingest.
      const c2 = cf.calls.length;
      expectOk(await script("deploy", ["all", "--env", env]), "first deploy");
      const convertUpload = uploads(c2, cfg.convertName)[0];
      const ingestUpload = uploads(c2, cfg.ingestName)[0];
      assert.ok(convertUpload && ingestUpload, "both Workers uploaded");
      assert.ok(cf.calls.indexOf(convertUpload) < cf.calls.indexOf(ingestUpload), "convert before ingest");
      const convert = cf.state.scripts.get(cfg.convertName);
      const ingest = cf.state.scripts.get(cfg.ingestName);
      for (const s of [convert, ingest]) {
        assert.ok(s.modules.some((m) => m.name.endsWith(".wasm")), `${s.name}: the wasm module was uploaded`);
        assert.ok(s.secrets.has("ADMIN_TOKEN"), `${s.name} kept its secrets`);
      }
      const plain = (s) => Object.fromEntries(s.bindings.filter((b) => b.type === "plain_text").map((b) => [b.name, b.text]));
      assert.equal(plain(convert).CATALOG_URI, cfg.vars.CATALOG_URI, "the deployed convert Worker has setup's CATALOG_URI");
      assert.ok(convert.bindings.some((b) => b.type === "r2_bucket" && b.bucket_name === cfg.catalog));
      assert.ok(convert.bindings.some((b) => b.type === "queue" && b.queue_name === cfg.queue));
      // Durable Objects, whatever the config declares: every binding's class exists after the migrations.
      for (const b of convert.bindings.filter((x) => x.type === "durable_object_namespace" && !x.script_name)) {
        assert.ok(cf.state.durableObjects.has(`${cfg.convertName}:${b.class_name}`), `Durable Object class ${b.class_name} migrated`);
      }
      if (cfg.migrations.length) assert.equal(convert.migration_tag, cfg.migrations.at(-1).tag);
      const consumers = cf.queueByName(cfg.queue).consumers;
      assert.deepEqual(consumers.map((c) => [c.type, c.script, c.dead_letter_queue]), [["worker", cfg.convertName, cfg.dlq]]);
      assert.deepEqual(ingest.schedules.map((s) => s.cron), cfg.crons, "the ingest Worker's cron triggers");
      assert.equal(ingest.subdomain.enabled, true, "workers.dev enabled (doctor reaches /health there)");

      // Deploy again: new versions of the same Workers, the consumer updated in place, nothing created.
      const c3 = cf.calls.length;
      expectOk(await script("deploy", ["all", "--env", env]), "second deploy");
      assert.ok(uploads(c3, cfg.convertName).length === 1 && uploads(c3, cfg.ingestName).length === 1);
      assert.ok(!cf.mutations(c3).some((c) => /\/(r2\/buckets|queues)$/.test(c.path)), "the second deploy created no bucket or queue");
      assert.equal(cf.queueByName(cfg.queue).consumers.length, 1, "still one consumer");
      assert.equal(convert.secrets.get("CATALOG_TOKEN"), CATALOG_TOKEN, "secrets survive redeploys");

      // Doctor, with both Workers running in workerd against the catalog setup configured.
      await withWorkers(t, cfg, admin, async (urls) => {
        const doctor = await script("doctor", ["--env", env, "--json", "--canary-timeout", "120"], { ...urls, ADMIN_TOKEN: admin });
        const result = JSON.parse(doctor.stdout);
        const failed = result.checks.filter((c) => c.status !== "ok");
        assert.deepEqual(failed, [], `doctor:\n${doctor.out}`);
        assert.equal(doctor.code, 0);
        assert.match(result.checks.find((c) => c.check === "canary").detail, /committed in analytics\.icepipe_doctor\.canary/);
      });
    });
  }

  test("doctor names the fix: wrong token, missing permission, catalog not enabled, wrong account in the URI, dead letters, no consumer", { timeout: 300_000 }, async () => {
    const env = ENVIRONMENTS[0];
    const cfg = envConfig(env);
    assert.ok(cf.state.scripts.has(cfg.convertName), "runs after the staging test deployed");
    const doctor = async (extra = {}) => {
      const r = await script("doctor", ["--env", env, "--json", "--no-canary"], { ICEPIPE_CONVERT_URL: "http://127.0.0.1:9", ICEPIPE_INGEST_URL: "http://127.0.0.1:9", ...extra });
      const json = JSON.parse(r.stdout);
      return { code: r.code, check: (name) => json.checks.find((c) => c.check === name), out: r.out };
    };

    // A token that is no token.
    let r = await doctor({ CATALOG_TOKEN: "not-a-token" });
    assert.equal(r.code, 1);
    assert.equal(r.check("catalog token").status, "fail");
    assert.match(r.check("catalog token").detail, /not a valid API token/);

    // A valid token without R2 Storage.
    cf.setToken("catalog-only", ["catalog"]);
    r = await doctor({ CATALOG_TOKEN: "catalog-only" });
    assert.equal(r.check("catalog token").status, "ok");
    assert.equal(r.check("catalog token: R2 Storage").status, "fail");
    assert.match(r.check("catalog token: R2 Storage").fix, /R2 Storage/);
    assert.equal(r.check("catalog token: R2 Data Catalog").status, "ok");

    // A token of another account: valid, but refused here (403), told apart from a wrong token.
    cf.setToken("other-account", ["r2", "catalog"], "f".repeat(32));
    r = await doctor({ CATALOG_TOKEN: "other-account" });
    assert.equal(r.check("catalog token").status, "ok");
    assert.equal(r.check("catalog token: R2 Storage").status, "fail");
    assert.equal(r.check("catalog REST").status, "fail");
    assert.match(r.check("catalog REST").fix, /another account's token/);

    // Dead letters: counted, with the replay and purge commands.
    const dlq = cf.queueByName(cfg.dlq);
    cf.state.queues.get(dlq.queue_id).messages.push({ id: "m1", body: { object: { key: "sources/a/b/x.parquet" } }, timestamp_ms: Date.now() - 60_000 });
    r = await doctor();
    assert.equal(r.check("dead-letter queue").status, "fail");
    assert.match(r.check("dead-letter queue").detail, /1 message/);
    assert.match(r.check("dead-letter queue").fix, /\/replay/);
    assert.match(r.check("dead-letter queue").fix, /queues purge/);
    cf.state.queues.get(dlq.queue_id).messages = [];

    // No consumer on the queue.
    const q = cf.state.queues.get(cf.queueByName(cfg.queue).queue_id);
    const saved = q.consumers;
    q.consumers = [];
    r = await doctor();
    assert.equal(r.check("queue consumer").status, "fail");
    assert.match(r.check("queue consumer").fix, /scripts\/deploy convert --env staging/);
    q.consumers = saved;

    // Wrong account in CATALOG_URI.
    const file = path.join(dir, "wrangler.convert.toml");
    const original = readFileSync(file, "utf8");
    writeFileSync(file, original.replace(`${cf.catalogHost}/${ACCOUNT}/${cfg.catalog}`, `${cf.catalogHost}/${"e".repeat(32)}/${cfg.catalog}`));
    r = await doctor();
    assert.equal(r.check("catalog URI").status, "fail");
    assert.match(r.check("catalog URI").detail, /wrong account in the URI/);
    assert.match(r.check("catalog REST").fix, /wrong account or bucket in CATALOG_URI/);
    writeFileSync(file, original);

    // Catalog not enabled.
    cf.state.catalogs.get(cfg.catalog).status = "inactive";
    r = await doctor();
    assert.equal(r.check("R2 Data Catalog").status, "fail");
    assert.match(r.check("R2 Data Catalog").fix, /catalog enable/);
    assert.match(r.check("catalog REST").fix, /catalog not enabled/);
    cf.state.catalogs.get(cfg.catalog).status = "active";

    // Unreachable Workers fail their /health check, named.
    assert.equal(r.check("convert /health").status, "fail");
  });

  test("deploy refuses a convert Worker whose catalog setup has not written", { timeout: 120_000 }, async () => {
    const fresh = mkdtempSync(path.join(os.tmpdir(), "icepipe-deploy-fresh-"));
    try {
      for (const f of ["wrangler.convert.toml", "wrangler.ingest.toml"]) cpSync(path.join(ROOT, f), path.join(fresh, f));
      for (const d of ["crates", "scripts", "config"]) symlinkSync(path.join(ROOT, d), path.join(fresh, d));
      mkdirSync(path.join(fresh, "state"));
      const r = await script("deploy", ["convert", "--env", "production"], { ICEPIPE_CONFIG_DIR: fresh });
      assert.equal(r.code, 1);
      assert.match(r.out, /CATALOG_URI and WAREHOUSE missing .*run scripts\/setup --env production first/);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});

/**
 * Runs both Workers in workerd as the environment deploys them, but against the local stack: the
 * convert Worker's catalog is the stand-in's R2 Data Catalog route (CATALOG_URI and WAREHOUSE as
 * setup wrote them, the catalog token as a bearer token), table files go through S3 (local stack).
 */
async function withWorkers(t, cfg, adminToken, fn) {
  const convertPort = await freePort();
  const ingestPort = await freePort();
  const p = await startPipeline({
    adminToken,
    namespaceRoot: cfg.vars.NAMESPACE_ROOT,
    port: convertPort,
    ingestPort,
    convertBindings: { CATALOG_URI: cfg.vars.CATALOG_URI, WAREHOUSE: cfg.vars.WAREHOUSE, CATALOG_TOKEN, CATALOG_CREDENTIAL: "" },
  });
  try {
    await reportIfAbandoned(t, () => fn({ ICEPIPE_CONVERT_URL: `http://127.0.0.1:${convertPort}`, ICEPIPE_INGEST_URL: `http://127.0.0.1:${ingestPort}` }));
  } catch (e) {
    if (e.name !== "WaitTimeout") e.message += `\n--- Worker output ---\n${p.convert.logs.text(60)}`;
    throw e;
  } finally {
    await p.dispose();
  }
}

/** A port nothing listens on right now (for the Workers' HTTP sockets). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
