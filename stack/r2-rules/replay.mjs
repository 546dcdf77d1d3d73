#!/usr/bin/env node
// What a recorded run of catalog requests would meet on R2 Data Catalog's rate limits: reads the
// rules layer's request log (.icepipe/stack/r2-rules.log, one JSON line per request), counts the
// writes by operation, the most each rule saw in any window, and replays them against the
// documented limits as one client that waits out Retry-After on every 429 (each wait delays every
// later request), which says how much waiting the run would have done.
//
//   node stack/r2-rules/replay.mjs [--since ISO] [--until ISO] [--json] LOG...
//
// Run the suites with the layer's limits off (ICEPIPE_STACK_R2_*=off) so that the log holds the
// traffic as the suites make it, not as the limits shaped it.
import { readFileSync } from "node:fs";
import { DOCUMENTED_LIMITS, maxInAnyWindow, RateLimiter, rulesFor } from "./limits.mjs";
import { classify, WRITE_OPERATIONS } from "./routes.mjs";

/** Write requests of the log that R2 would count: [{ t (ms), route, ident }], in time order. */
export function writesOf(lines, { since = -Infinity, until = Infinity } = {}) {
  const writes = [];
  for (const line of lines) {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    if (!e.op || !WRITE_OPERATIONS.has(e.op)) continue;
    // Refused before any rule counts it.
    if (e.status === 401 || e.status === 403) continue;
    const t = Date.parse(e.t);
    if (t < since || t > until) continue;
    const route = classify(e.method, e.path);
    writes.push({ t, route, ident: e.tables?.[0] ?? null, tables: e.tables ?? [] });
  }
  return writes.sort((a, b) => a.t - b.t);
}

/** Counts, and the most each rule saw in any window of the documented length. */
export function rates(writes, windowMs = DOCUMENTED_LIMITS.windowMs) {
  const byOperation = {};
  const byRule = {};
  const perTable = {};
  for (const w of writes) {
    byOperation[w.route.operation] = (byOperation[w.route.operation] ?? 0) + 1;
    for (const rule of rulesFor(w.route.operation)) {
      const key = rule.name === "updateTable-per-table" ? `${rule.name} ${w.ident}` : rule.name;
      (byRule[key] ??= []).push(w.t);
    }
    if (w.route.operation === "updateTable" || w.route.operation === "commitTransaction") {
      for (const t of w.tables) (perTable[t] ??= []).push(w.t);
    }
  }
  const maxPerWindow = {};
  let busiestTable = { table: null, max: 0 };
  for (const [key, times] of Object.entries(byRule)) {
    const max = maxInAnyWindow(times, windowMs);
    if (key.startsWith("updateTable-per-table ")) {
      if (max > busiestTable.max) busiestTable = { table: key.slice("updateTable-per-table ".length), max };
    } else maxPerWindow[key] = max;
  }
  return {
    writes: writes.length,
    spanSeconds: writes.length ? Math.round((writes.at(-1).t - writes[0].t) / 1000) : 0,
    byOperation,
    maxPerWindow,
    busiestTable,
    tablesCommitted: Object.keys(perTable).length,
  };
}

/**
 * Replays the writes against `limits` as one client honouring Retry-After: a refused write waits a
 * window and tries again, and everything after it moves by the same wait. Returns the 429s it
 * met (by rule) and the total wait.
 */
export function replay(writes, limits = DOCUMENTED_LIMITS) {
  let clock = 0;
  const limiter = new RateLimiter({ limits, now: () => clock });
  let shift = 0;
  const refused = {};
  for (const w of writes) {
    clock = w.t + shift;
    for (;;) {
      const verdict = limiter.admit(w.route, w.ident);
      if (verdict.admitted) break;
      refused[verdict.rule] = (refused[verdict.rule] ?? 0) + 1;
      shift += limits.windowMs;
      clock += limits.windowMs;
    }
  }
  return { refused, waitSeconds: shift / 1000 };
}

function main(argv) {
  const files = [];
  const range = {};
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--since") range.since = Date.parse(argv[++i]);
    else if (argv[i] === "--until") range.until = Date.parse(argv[++i]);
    else if (argv[i] === "--json") json = true;
    else files.push(argv[i]);
  }
  if (files.length === 0) {
    process.stderr.write("usage: replay.mjs [--since ISO] [--until ISO] [--json] LOG...\n");
    return 2;
  }
  const lines = files.flatMap((f) => readFileSync(f, "utf8").split("\n"));
  const writes = writesOf(lines, range);
  const result = { ...rates(writes), onDocumentedLimits: replay(writes) };
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  const { byOperation, maxPerWindow, busiestTable, onDocumentedLimits } = result;
  process.stdout.write(
    [
      `${result.writes} writes over ${result.spanSeconds} s into ${result.tablesCommitted} committed tables`,
      `by operation: ${Object.entries(byOperation).map(([k, v]) => `${k} ${v}`).join(", ")}`,
      `most in any 60 s window: ${Object.entries(maxPerWindow).map(([k, v]) => `${k} ${v}`).join(", ")}; updateTable on one table ${busiestTable.max} (${busiestTable.table})`,
      `on the documented limits: ${Object.entries(onDocumentedLimits.refused).map(([k, v]) => `${v} x 429 ${k}`).join(", ") || "no 429"}; waiting out Retry-After adds ${onDocumentedLimits.waitSeconds} s`,
    ].join("\n") + "\n",
  );
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
