// Runs the built Workers in Miniflare (workerd) with local R2 buckets and Queues, wired to the local
// SeaweedFS stack, and captures each Worker's console output (one JSON object per line) so tests can
// read the batch log lines.
//
//   const w = await startConvert({ namespaceRoot: "t1234" });
//   await w.fetch("/health");                   // HTTP into the convert Worker
//   await new Notifier(w.mf).list("sources/");  // the local RAW bucket (through the harness helper)
//   w.batches();                                 // parsed {"event":"batch",...} log lines so far
//   await w.dispose();
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Log, LogLevel, Miniflare } from "miniflare";
import { addTimeoutContext, boundedFetch, within } from "./bounded.mjs";
import { opened } from "./leftovers.mjs";
import { ROOT, stackSettings } from "./stack.mjs";
import { Notifier } from "./notifier.mjs";

export const QUEUE = "icepipe-raw-events";
export const DLQ = "icepipe-raw-events-dlq";
export const COMPATIBILITY_DATE = "2026-04-26";

/** Build output of a Worker crate (crates/<name>/build), or null when it has not been built. */
export function workerBuild(name, root = ROOT) {
  const dir = path.join(root, "crates", name, "build");
  const js = path.join(dir, "index.js");
  const wasm = path.join(dir, "index_bg.wasm");
  if (!existsSync(js) || !existsSync(wasm)) return null;
  return { dir, js, wasm };
}

/** Miniflare `modules` for a worker-build output: the ESM shim plus the wasm as a CompiledWasm module. */
export function workerModules(build) {
  const modules = [{ type: "ESModule", path: build.js }];
  if (build.wasm) modules.push({ type: "CompiledWasm", path: build.wasm });
  return { modulesRoot: build.dir, modules };
}

/**
 * The convert Worker to run: crates/convert/build, or the directory in HARNESS_CONVERT_BUILD
 * (index.js, and index_bg.wasm when present) to try the harness with another build.
 */
export function convertBuild() {
  const override = process.env.HARNESS_CONVERT_BUILD;
  if (!override) return workerBuild("convert");
  const dir = path.resolve(override);
  const js = path.join(dir, "index.js");
  if (!existsSync(js)) throw new Error(`HARNESS_CONVERT_BUILD=${override}: ${js} missing`);
  const wasm = path.join(dir, "index_bg.wasm");
  return { dir, js, wasm: existsSync(wasm) ? wasm : null };
}

/**
 * `compatibility_flags` of wrangler.<name>.toml (top level), so the harness runs the Worker with
 * the flags it is deployed with; [] when the file or the key is missing.
 */
export function wranglerCompatibilityFlags(name, root = ROOT) {
  const file = path.join(root, `wrangler.${name}.toml`);
  if (!existsSync(file)) return [];
  const m = /^\s*compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(readFileSync(file, "utf8"));
  return m ? [...m[1].matchAll(/"([^"]+)"|'([^']+)'/g)].map((x) => x[1] ?? x[2]) : [];
}

/** Captured console output of the workerd process. */
export class ConsoleCapture {
  constructor({ echo = process.env.HARNESS_ECHO_LOGS === "1" } = {}) {
    this.lines = []; // {timestamp, level, message, json}
    this.echo = echo;
    this.waiters = new Set();
  }

  push({ timestamp, level, message }) {
    let json = null;
    const text = String(message).trim();
    if (text.startsWith("{")) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    const entry = { timestamp, level, message: text, json };
    this.lines.push(entry);
    if (this.echo) process.stderr.write(`[workerd ${level}] ${text}\n`);
    for (const w of this.waiters) w();
  }

  /** Parsed JSON log records (optionally only those with `event`). */
  records(event) {
    return this.lines.map((l) => l.json).filter((j) => j && (event === undefined || j.event === event));
  }

  /** Everything captured as text, for failure messages. */
  text(limit = 200) {
    return this.lines
      .slice(-limit)
      .map((l) => `[${l.level}] ${l.message}`)
      .join("\n");
  }

  /** Resolves with the first record matching `pred` among those captured from index `from` on. */
  waitFor(pred, { timeoutMs = 120_000, from = 0, what = "log line" } = {}) {
    let check;
    const found = new Promise((resolve) => {
      check = () => {
        for (let i = from; i < this.lines.length; i++) {
          const l = this.lines[i];
          if (pred(l.json, l)) {
            resolve(l.json ?? l);
            return true;
          }
        }
        return false;
      };
      if (!check()) this.waiters.add(check);
    });
    return within(timeoutMs, what, found).finally(() => this.waiters.delete(check));
  }
}

/** The convert Worker's Durable Object classes, as wrangler.convert.toml binds them (SQLite-backed). */
export const CONVERT_DURABLE_OBJECTS = {
  COMMITTER: { className: "TableCommitterObject", useSQLite: true },
  CATALOG_BUDGET: { className: "CatalogBudget", useSQLite: true },
};

/** Worker bindings for the local stack: vars and secrets of wrangler.convert.toml, pointed at its catalog and S3. */
export function convertBindings({ namespaceRoot, adminToken, stack = stackSettings(), extra = {} }) {
  return {
    CATALOG_URI: stack.catalogUri,
    WAREHOUSE: stack.warehouse,
    NAMESPACE_ROOT: namespaceRoot,
    TABLE_STORAGE: "s3",
    S3_ENDPOINT: stack.s3Endpoint,
    S3_REGION: stack.region,
    // Secrets (wrangler secret put) are plain string bindings locally. The static token, as on R2,
    // when the stack has one (the rules layer); OAuth client credentials otherwise.
    ...(stack.token ? { CATALOG_TOKEN: stack.token } : { CATALOG_CREDENTIAL: stack.credential }),
    S3_ACCESS_KEY_ID: stack.accessKeyId,
    S3_SECRET_ACCESS_KEY: stack.secretAccessKey,
    ADMIN_TOKEN: adminToken,
    ...extra,
  };
}

/**
 * The ingest Worker as a Miniflare worker definition (for `startConvert({ extraWorkers })`): it
 * shares the RAW bucket with the convert Worker. `baseUrls` maps sources to the API they pull
 * from (BASE_URL_OVERRIDES), e.g. { api_jsonplaceholder: sampleApi.url }. `port` also serves it
 * on 127.0.0.1:<port>. Reach it at http://ingest.local/ (`w.dispatch`; its route).
 */
export const INGEST = "ingest";
export const INGEST_HOST = "ingest.local";
export function ingestWorker({ build = workerBuild("ingest"), adminToken, baseUrls = {}, bindings = {}, port } = {}) {
  if (!build) throw new Error("crates/ingest/build/index.js or index_bg.wasm is missing: run scripts/build-workers ingest");
  const overrides = Object.entries(baseUrls).map(([source, url]) => `${source}=${url}`).join(",");
  return {
    name: INGEST,
    ...workerModules(build),
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: wranglerCompatibilityFlags("ingest"),
    bindings: {
      ADMIN_TOKEN: adminToken,
      RAW_BUCKET: "icepipe-raw",
      ...(overrides ? { BASE_URL_OVERRIDES: overrides } : {}),
      ...bindings,
    },
    r2Buckets: ["RAW"],
    routes: [`${INGEST_HOST}/*`],
    ...(port ? { unsafeDirectSockets: [{ host: "127.0.0.1", port }] } : {}),
  };
}

/** A fresh namespace root for one test (tables land under `<root>.<source>.<resource>`). */
export function uniqueRoot(prefix = "t") {
  return `${prefix}${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
}

// A Worker that consumes the dead-letter queue and logs every message it gets, so tests (and local
// runs) see what the convert Worker gave up on. Deployed, nothing consumes the DLQ by default.
const DLQ_SPY_SCRIPT = `export default {
  async queue(batch) {
    for (const m of batch.messages) {
      console.log(JSON.stringify({ event: "dlq", queue: batch.queue, attempts: m.attempts, body: m.body }));
      m.ack();
    }
  },
};`;

// The harness's own door into workerd: the RAW bucket and the queue over plain HTTP, reached with
// dispatchFetch at http://harness.local/. Node never goes through Miniflare's binding proxies
// (getR2Bucket, getQueueProducer, getWorker, getBindings): each property read on a proxied object
// blocks Node's main thread in Atomics.wait until a worker thread brings workerd's answer, and once
// dispose() has terminated that thread, a read on an object that arrived late (a watcher poll in
// flight) waits forever. That hung issue 17's run: main thread blocked, no timer (not even
// node:test's timeouts) firing, workerd never disposed. startConvert and startIngest refuse the proxies.
//
//   PUT  /object?key=K        body -> RAW (any size: a known-length body streams in) -> {key,size,etag,uploaded}
//   GET  /object?key=K        the object's body (404 when missing)
//   GET  /list?prefix=P[&cursor=C]   -> {objects: [{key,size,etag,uploaded}], truncated, cursor}
//   POST /send                [{body, contentType}] -> one sendBatch to the raw-events queue
export const HARNESS_HELPER = "harness-helper";
export const HARNESS_HOST = "harness.local";
export const PROXIES_REFUSED =
  "the harness does not use Miniflare's binding proxies (they block Node's main thread and can hang it for good: issue 17); reach bindings through the harness helper Worker (Notifier)";
const HARNESS_HELPER_SCRIPT = `const described = (o) => ({ key: o.key, size: o.size, etag: o.etag, uploaded: o.uploaded.toISOString() });
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const key = url.searchParams.get("key");
    switch (request.method + " " + url.pathname) {
      case "PUT /object":
        if (!key) break;
        return Response.json(described(await env.RAW.put(key, request.body)));
      case "GET /object": {
        const o = key && (await env.RAW.get(key));
        return o ? new Response(o.body) : new Response("no such object", { status: 404 });
      }
      case "GET /list": {
        const page = await env.RAW.list({ prefix: url.searchParams.get("prefix") ?? "", cursor: url.searchParams.get("cursor") ?? undefined, limit: 1000 });
        return Response.json({ objects: page.objects.map(described), truncated: page.truncated, cursor: page.truncated ? page.cursor : null });
      }
      case "POST /send":
        await env.RAW_EVENTS.sendBatch(await request.json());
        return new Response(null, { status: 204 });
    }
    return new Response("PUT|GET /object?key=K, GET /list?prefix=P, POST /send", { status: 400 });
  },
};`;

/**
 * Waits (bounded) for `mf` to start, with its binding proxies refused; returns its `url` and a
 * `dispose()` that runs once, is bounded too, and then calls `cleanup` (also when the start fails).
 * Until disposed, it is listed among what the harness must close (leftovers.mjs).
 */
async function started(mf, label, cleanup) {
  refuseProxies(mf);
  let disposed = null;
  const dispose = () =>
    (disposed ??= (async () => {
      try {
        await within(60_000, `${label} to stop`, mf.dispose(), { report: false });
      } finally {
        forgetClose();
        cleanup();
      }
    })());
  const forgetClose = opened(label, dispose);
  try {
    return { url: await within(120_000, `workerd to start (${label})`, mf.ready), dispose };
  } catch (e) {
    await dispose().catch(() => {});
    throw e;
  }
}

/** The harness helper Worker (RAW and the raw-events queue over HTTP at HARNESS_HOST). */
function harnessHelperWorker(helperPort) {
  return {
    name: HARNESS_HELPER,
    modules: true,
    script: HARNESS_HELPER_SCRIPT,
    compatibilityDate: COMPATIBILITY_DATE,
    r2Buckets: ["RAW"],
    queueProducers: { RAW_EVENTS: { queueName: QUEUE } },
    routes: [`${HARNESS_HOST}/*`],
    // Local runs expose it: `curl -T file.parquet 'http://127.0.0.1:<helperPort>/object?key=sources/...'`.
    ...(helperPort ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: helperPort }] } : {}),
  };
}

/** Every binding proxy (getR2Bucket, getQueueProducer, getWorker, getBindings, ...) starts here. */
function refuseProxies(mf) {
  mf._getProxyClient = async () => {
    throw new Error(PROXIES_REFUSED);
  };
}

/**
 * Starts Miniflare with the convert Worker (and, when given, more Workers) wired to the local stack.
 *
 * Options:
 *   namespaceRoot   NAMESPACE_ROOT (default: a unique root)
 *   adminToken      ADMIN_TOKEN secret (default: random)
 *   build           { dir, js, wasm } of the convert Worker (default: crates/convert/build)
 *   persistDir      where R2 and queue state live (default: a temp dir, removed on dispose)
 *   queue           consumer settings: maxBatchSize (100), maxBatchTimeout (1 s), maxRetries (10),
 *                   retryDelay (seconds, 1), deadLetterQueue (DLQ)
 *   bindings        extra/overriding vars and secrets
 *   compatibilityFlags  (default: those of wrangler.convert.toml)
 *   dlqSpy          add a consumer of the DLQ that logs {"event":"dlq",...} (default true)
 *   extraWorkers    more Miniflare worker definitions (e.g. the ingest Worker), appended
 *   port            serve HTTP on 127.0.0.1:<port> (default: a random port)
 *   helperPort      also serve the harness helper (HARNESS_HELPER) on 127.0.0.1:<helperPort>
 *   echo            echo the Worker's console output to stderr (default: HARNESS_ECHO_LOGS=1)
 */
export async function startConvert(opts = {}) {
  const stack = opts.stack ?? stackSettings();
  const namespaceRoot = opts.namespaceRoot ?? uniqueRoot();
  const adminToken = opts.adminToken ?? `test-${randomBytes(12).toString("hex")}`;
  const build = opts.build ?? convertBuild();
  if (!build) {
    throw new Error("crates/convert/build/index.js or index_bg.wasm is missing: run scripts/build-workers convert");
  }
  const ownPersist = !opts.persistDir;
  const persistDir = opts.persistDir ?? mkdtempSync(path.join(os.tmpdir(), "icepipe-mf-"));
  const queue = {
    maxBatchSize: 100,
    maxBatchTimeout: 1,
    maxRetries: 10,
    retryDelay: 1,
    deadLetterQueue: DLQ,
    ...(opts.queue ?? {}),
  };
  const capture = new ConsoleCapture({ echo: opts.echo });

  const workers = [
    {
      name: "convert",
      ...workerModules(build),
      compatibilityDate: COMPATIBILITY_DATE,
      compatibilityFlags: opts.compatibilityFlags ?? wranglerCompatibilityFlags("convert"),
      bindings: convertBindings({ namespaceRoot, adminToken, stack, extra: opts.bindings }),
      r2Buckets: ["RAW", "CATALOG"],
      queueProducers: { RAW_EVENTS: { queueName: QUEUE } },
      queueConsumers: { [QUEUE]: queue },
      // The commit coordinators (wrangler.convert.toml [[durable_objects.bindings]]).
      durableObjects: CONVERT_DURABLE_OBJECTS,
    },
  ];
  if (opts.dlqSpy !== false) {
    workers.push({
      name: "dlq-spy",
      modules: true,
      script: DLQ_SPY_SCRIPT,
      compatibilityDate: COMPATIBILITY_DATE,
      queueConsumers: { [queue.deadLetterQueue]: { maxBatchSize: 100, maxBatchTimeout: 1 } },
    });
  }
  workers.push(harnessHelperWorker(opts.helperPort));
  workers.push(...(opts.extraWorkers ?? []));

  const mf = new Miniflare({
    workers,
    cf: false,
    host: "127.0.0.1",
    port: opts.port ?? 0,
    defaultPersistRoot: persistDir,
    r2Persist: path.join(persistDir, "r2"),
    durableObjectsPersist: path.join(persistDir, "do"),
    // /cdn-cgi/handler/scheduled on a Worker's route fires its cron handler (pipeline.fireCron).
    unsafeTriggerHandlers: true,
    // Miniflare's own messages (not the Worker's console) at warn and above.
    log: new Log(opts.logLevel ?? LogLevel.WARN),
    handleStructuredLogs: (entry) => capture.push(entry),
    // DevTools protocol on this port (bench/profile_worker.mjs); off unless asked for.
    ...(opts.inspectorPort ? { inspectorPort: opts.inspectorPort } : {}),
  });
  const label = `Miniflare (convert Worker, namespace root ${namespaceRoot})`;
  const forgetLogs = addTimeoutContext(`Worker output (namespace root ${namespaceRoot}), last 40 lines`, () => capture.text(40) || "(none)");
  const { url, dispose } = await started(mf, label, () => {
    forgetLogs();
    if (ownPersist) rmSync(persistDir, { recursive: true, force: true });
  });

  /**
   * HTTP into any Worker of this Miniflare by its route (http://ingest.local/..., the convert
   * Worker for any other host), bounded; the response comes back fully read.
   */
  const dispatch = (target, init = {}, { timeoutMs = 120_000, what } = {}) =>
    boundedFetch(target, init, { timeoutMs, what, using: mf.dispatchFetch });
  const fetchWorker = (p, init = {}, bounds = {}) => {
    const target = new URL(p, url).toString();
    return dispatch(target, init, { what: `${init.method ?? "GET"} ${p} on the convert Worker`, ...bounds });
  };

  return {
    mf,
    url,
    namespaceRoot,
    adminToken,
    persistDir,
    logs: capture,
    /** `{"event":"batch",...}` lines logged so far. */
    batches: () => capture.records("batch"),
    /** Messages the queue moved to the dead-letter queue (seen by the DLQ spy). */
    deadLettered: () => capture.records("dlq"),
    dispatch,
    fetch: fetchWorker,
    /**
     * Fires the convert Worker's scheduled handler (the sweep, then maintenance) as the cron
     * trigger would, over Miniflare's trigger route (no binding proxies); it answers when the
     * handler is done.
     */
    async fireCron(cron = "*/10 * * * *") {
      const p = `/cdn-cgi/handler/scheduled?cron=${encodeURIComponent(cron)}&time=${Date.now()}`;
      const r = await fetchWorker(p, {}, { timeoutMs: 240_000, what: `the scheduled handler (cron ${cron})` });
      if (r.status !== 200) throw new Error(`${p} answered ${r.status}: ${await r.text()}`);
    },
    /** HTTP with the admin token (or `token` / `{token: null}` for none). */
    admin: (p, init = {}, token = adminToken) =>
      fetchWorker(p, {
        ...init,
        headers: { ...(init.headers ?? {}), ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      }),
    dispose,
  };
}

/**
 * Starts Miniflare with the ingest Worker alone (no stack, no convert Worker): for tests of what
 * the ingest Worker fetches and lands. Options: baseUrls (BASE_URL_OVERRIDES, as ingestWorker),
 * adminToken (default random), bindings, echo.
 * Returns { mf, raw (the RAW bucket), logs, fetch(path, init) with the admin token, dispose() }.
 */
export async function startIngest(opts = {}) {
  const adminToken = opts.adminToken ?? `test-${randomBytes(12).toString("hex")}`;
  const persistDir = mkdtempSync(path.join(os.tmpdir(), "icepipe-mf-ingest-"));
  const capture = new ConsoleCapture({ echo: opts.echo });
  const mf = new Miniflare({
    workers: [ingestWorker({ adminToken, baseUrls: opts.baseUrls, bindings: opts.bindings }), harnessHelperWorker()],
    cf: false,
    host: "127.0.0.1",
    port: 0,
    defaultPersistRoot: persistDir,
    r2Persist: path.join(persistDir, "r2"),
    log: new Log(LogLevel.WARN),
    handleStructuredLogs: (entry) => capture.push(entry),
  });
  const { dispose } = await started(mf, "Miniflare (ingest Worker)", () => rmSync(persistDir, { recursive: true, force: true }));
  const raw = new Notifier(mf);
  return {
    mf,
    adminToken,
    logs: capture,
    /** The RAW bucket through the harness helper Worker: `list({prefix})` -> `{objects}`. */
    raw: { list: async ({ prefix = "" } = {}) => ({ objects: await raw.list(prefix) }) },
    fetch: (p, init = {}) =>
      boundedFetch(
        `http://ingest.local${p}`,
        { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${adminToken}` } },
        { timeoutMs: 120_000, what: `${init.method ?? "GET"} ${p} on the ingest Worker`, using: mf.dispatchFetch },
      ),
    dispose,
  };
}
