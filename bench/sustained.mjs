#!/usr/bin/env node
// One sustained-load run of the convert Worker in workerd (Miniflare) on the local stack, for
// scripts/bench (bench/cases/sustained.py):
//
//   node bench/sustained.mjs --namespace-root NS --files F1,F2,... --seconds S [--rules on|off]
//
// The files (one table, <NS>.bench.sustained) are put into the local RAW bucket and notified at an
// even pace over S seconds; the run ends when the Worker has acknowledged every message. `--rules
// on` puts a rules layer of the run's own with R2's documented limits in front of the stack's
// SeaweedFS; `--rules off` points the Worker at SeaweedFS's own catalog (the same data, no limits). Freshness of a file = the commit time of the first snapshot whose rows include
// its own (the coordinator's clock, this machine) - the moment its put into R2 completed. Prints
// one JSON object:
//   {files, rows, elapsed_ms, files_per_minute, commits, max_commits_in_a_minute, freshness_ms: {p50, p95, max},
//    batches, table, commit_requests, lost_races, rate_limited, loads}
import { parseArgs } from "node:util";
import { boundedFetch } from "../harness/lib/bounded.mjs";
import { rawKey } from "../harness/lib/fixtures.mjs";
import { startConvert } from "../harness/lib/miniflare.mjs";
import { Notifier } from "../harness/lib/notifier.mjs";
import { startRulesLayer } from "../harness/lib/rules_layer.mjs";
import { Catalog, stackSettings } from "../harness/lib/stack.mjs";

const { values: args } = parseArgs({
  options: {
    "namespace-root": { type: "string" },
    files: { type: "string" },
    seconds: { type: "string", default: "300" },
    rules: { type: "string", default: "on" },
    "timeout-s": { type: "string", default: "3600" },
  },
});
if (!args["namespace-root"] || !args.files) throw new Error("--namespace-root and --files are required");
const files = args.files.split(",");
const spreadMs = Number(args.seconds) * 1000;

const LAYER_TOKEN = "bench-sustained-documented-rules";

/**
 * Where the Worker commits. `on`: a rules layer of this run's own with R2's documented rules, in
 * front of the stack's SeaweedFS (the stack's own layer may have its limits relaxed: scripts/bench
 * and scripts/test relax them for their time-compressed cases). `off`: SeaweedFS's catalog itself.
 * Returns `{ settings, stop }`.
 */
async function catalogFor(rules) {
  const settings = stackSettings();
  if (rules === "on") {
    const layer = await startRulesLayer({ token: LAYER_TOKEN, settings, overrides: { log: () => {} } });
    return { settings: layer.settings, stop: layer.stop };
  }
  if (rules !== "off") throw new Error(`--rules must be on or off, not ${JSON.stringify(rules)}`);
  const r = await boundedFetch(`${settings.catalogUri}/_rules/stats`, {}, { timeoutMs: 10_000, what: "the rules layer's config" });
  if (!r.ok) throw new Error("--rules off needs the stack's rules layer (ICEPIPE_STACK_CATALOG=r2) to find SeaweedFS behind it");
  return { settings: { ...settings, catalogUri: (await r.json()).config.upstream, token: null }, stop: async () => {} };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The most timestamps in any 60 s window. */
function maxInAMinute(times) {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; j < t.length; j++) {
    while (t[j] - t[i] >= 60_000) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

const catalog = await catalogFor(args.rules);
const stack = catalog.settings;
const w = await startConvert({ namespaceRoot: args["namespace-root"], stack, queue: { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 10 } });
const table = `${w.namespaceRoot}.bench.sustained`;
const out = {};
try {
  const notifier = new Notifier(w.mf);
  const putAt = new Map(); // raw key -> ms since the epoch its put completed
  const start = Date.now();
  for (const [i, file] of files.entries()) {
    const due = start + (i * spreadMs) / files.length;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    const key = rawKey("bench", "sustained", `s-${i}`);
    const object = await notifier.put(key, { file });
    putAt.set(key, Date.now());
    await notifier.send([notifier.notification(object)]);
  }
  const deadline = Date.now() + Number(args["timeout-s"]) * 1000;
  const acked = () => w.batches().reduce((a, b) => a + Number(b.acked ?? 0), 0);
  while (acked() < files.length) {
    if (Date.now() > deadline) throw new Error(`${acked()} of ${files.length} acknowledged after ${args["timeout-s"]} s\n${w.logs.text(40)}`);
    if (w.deadLettered().length) throw new Error(`dead-lettered: ${JSON.stringify(w.deadLettered()[0])}`);
    await new Promise((r) => setTimeout(r, 250));
  }

  // Rows visible to a reader over time: the snapshots' commit times and total-records. The i-th
  // file put (in order) counts as visible once the table holds (i + 1) files' rows: commits carry
  // files in about the order they arrived, and a reader cannot tell rows of equal files apart.
  const meta = await new Catalog(stack).loadTable(table);
  const visible = (meta.snapshots ?? [])
    .map((s) => ({ at: Number(s["timestamp-ms"]), rows: Number(s.summary?.["total-records"] ?? 0) }))
    .sort((a, b) => a.at - b.at);
  const commitTimes = visible.map((v) => v.at);
  const rowsPerFile = visible.length ? visible[visible.length - 1].rows / files.length : 0;
  const freshness = [...putAt.values()].map((at, i) => {
    const seen = visible.find((v) => v.rows >= (i + 1) * rowsPerFile);
    if (!seen) throw new Error(`the rows of file ${i} never became visible in ${table}`);
    return Math.max(0, seen.at - at);
  });
  freshness.sort((a, b) => a - b);
  const current = (meta.snapshots ?? []).find((s) => s["snapshot-id"] === meta["current-snapshot-id"]);
  const elapsed = Math.max(...commitTimes) - start;
  const batches = w.batches();
  Object.assign(out, {
    files: files.length,
    rows: Number(current?.summary?.["total-records"] ?? 0),
    elapsed_ms: elapsed,
    files_per_minute: (files.length / elapsed) * 60_000,
    commits: commitTimes.length,
    max_commits_in_a_minute: maxInAMinute(commitTimes),
    freshness_ms: { p50: percentile(freshness, 50), p95: percentile(freshness, 95), max: freshness[freshness.length - 1] },
    batches: batches.length,
    table,
  });
  // What the table's coordinator counted (GET /tables): requests, lost races, 429s, loads.
  const listing = await (await w.admin("/tables")).json();
  const counters = listing.tables.find((t) => t.table === table)?.coordinator?.counters ?? {};
  Object.assign(out, {
    commit_requests: counters.commit_requests,
    lost_races: counters.lost_races,
    rate_limited: counters.rate_limited,
    loads: counters.loads,
  });
} finally {
  await w.dispose();
  await catalog.stop();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
