#!/usr/bin/env node
// Local run of icepipe's Workers in workerd (Miniflare), against the local stack, until Ctrl-C.
//
//   scripts/stack start && scripts/build-workers all
//   node harness/run-local.mjs [--port 8787] [--namespace-root analytics] [--persist DIR] [--emit-existing]
//
// - convert Worker on http://127.0.0.1:<port> (GET /health, GET /tables, POST /replay);
//   the ingest Worker, when crates/ingest/build exists, on http://127.0.0.1:<port+1>;
//   the harness helper (RAW bucket and queue over HTTP) on http://127.0.0.1:<port+2>; upload with
//     curl -T my.parquet 'http://127.0.0.1:8789/object?key=sources/<source>/<resource>/year=2026/month=04/day=01/my.parquet'
// - Local R2 buckets RAW and CATALOG and the queue icepipe-raw-events persist in --persist
//   (default .icepipe/local), so a restart keeps the raw files.
// - Miniflare does not emit R2 event notifications: a watcher polls RAW under sources/ every second
//   and sends the Cloudflare-shaped PutObject notification for every new (key, eTag) (with
//   --emit-existing also for objects already there at start).
// - ADMIN_TOKEN is $ICEPIPE_ADMIN_TOKEN, or a random token printed at start.
// - Every Worker log line is printed (the convert Worker's batch lines are JSON).
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { convertBuild, ingestWorker, startConvert, workerBuild } from "./lib/miniflare.mjs";
import { Notifier } from "./lib/notifier.mjs";
import { STATE_DIR, stackRunning } from "./lib/stack.mjs";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "8787" },
    "namespace-root": { type: "string", default: "analytics" },
    persist: { type: "string", default: path.join(STATE_DIR, "local") },
    "emit-existing": { type: "boolean", default: false },
    "poll-ms": { type: "string", default: "1000" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write("usage: node harness/run-local.mjs [--port 8787] [--namespace-root analytics] [--persist DIR] [--emit-existing] [--poll-ms 1000]\n");
  process.exit(0);
}

function fail(msg) {
  process.stderr.write(`run-local: ${msg}\n`);
  process.exit(1);
}

if (!(await stackRunning())) fail("the local stack is not running: scripts/stack start");
const convert = convertBuild();
if (!convert) fail("crates/convert/build is missing: scripts/build-workers convert");
const port = Number(args.port);
const adminToken = process.env.ICEPIPE_ADMIN_TOKEN ?? randomBytes(16).toString("hex");
const persistDir = path.resolve(args.persist);
mkdirSync(persistDir, { recursive: true });

// The ingest Worker when built: it shares the RAW bucket and listens on its own port. Sources can
// be pointed at another API with ICEPIPE_BASE_URL_OVERRIDES ("source=url,...").
const extraWorkers = [];
const ingest = workerBuild("ingest");
if (ingest) {
  const overrides = process.env.ICEPIPE_BASE_URL_OVERRIDES;
  extraWorkers.push(
    ingestWorker({ build: ingest, adminToken, port: port + 1, bindings: overrides ? { BASE_URL_OVERRIDES: overrides } : {} }),
  );
}

// Registered before Miniflare starts (it adds its own exit hooks that kill workerd).
let stopping = false;
let w = null;
let watcher = null;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\n${signal}: stopping\n`);
  await watcher?.stop();
  await w?.dispose();
  process.exit(0);
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

w = await startConvert({
  namespaceRoot: args["namespace-root"],
  adminToken,
  persistDir,
  port,
  helperPort: port + 2,
  echo: true,
  // Deployed defaults are in wrangler.convert.toml; a short batch window keeps local runs snappy.
  queue: { maxBatchTimeout: 2, maxRetries: 10, retryDelay: 5 },
  bindings: { RETRY_BASE_SECONDS: process.env.RETRY_BASE_SECONDS ?? "5", RETRY_MAX_SECONDS: process.env.RETRY_MAX_SECONDS ?? "300" },
  extraWorkers,
});
const notifier = new Notifier(w.mf);
watcher = notifier.watch({
  intervalMs: Number(args["poll-ms"]),
  emitExisting: args["emit-existing"],
  onNotify: (notes) => {
    for (const n of notes) process.stderr.write(`[notifier] ${n.action} ${n.object.key} (${n.object.size} bytes, eTag ${n.object.eTag})\n`);
  },
});

process.stderr.write(
  [
    `icepipe local run (Ctrl-C to stop)`,
    `  convert Worker:  ${w.url.origin}   (namespace root "${w.namespaceRoot}")`,
    ingest ? `  ingest Worker:   http://127.0.0.1:${port + 1}` : `  ingest Worker:   not built (crates/ingest/build missing)`,
    `  upload to RAW:   curl -T file.parquet 'http://127.0.0.1:${port + 2}/object?key=sources/<source>/<resource>/year=YYYY/month=MM/day=DD/<name>.parquet'`,
    `  ADMIN_TOKEN:     ${adminToken}`,
    `  state:           ${persistDir}`,
    `  try:             curl ${w.url.origin}/health`,
    `                   curl -H 'authorization: Bearer ${adminToken}' ${w.url.origin}/tables`,
    "",
  ].join("\n"),
);

