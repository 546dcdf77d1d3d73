#!/usr/bin/env node
// Where the convert Worker's time goes: a V8 CPU profile of one conversion inside workerd.
//
//   scripts/stack start && scripts/build-workers convert --no-opt
//   node bench/profile_worker.mjs --file F [--namespace-root NS] [--top 40] [--out profile.cpuprofile]
//
// Starts the convert Worker in Miniflare with workerd's inspector on, starts V8's sampling profiler
// over the DevTools protocol, converts F (bench/convert_once.mjs, as bench/worker_convert.mjs does), stops the profiler and
// prints self time per function (wasm functions by their Rust names: worker-build keeps the name
// section) and per crate. --out keeps the raw profile for Chrome DevTools or speedscope.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { startConvert } from "../harness/lib/miniflare.mjs";
import { convertOnce } from "./convert_once.mjs";

const { values: args } = parseArgs({
  options: {
    file: { type: "string" },
    "namespace-root": { type: "string", default: `profile_${Date.now()}` },
    "inspector-port": { type: "string", default: "9239" },
    "interval-us": { type: "string", default: "200" },
    top: { type: "string", default: "40" },
    out: { type: "string" },
  },
});
if (!args.file) throw new Error("--file is required");
const port = Number(args["inspector-port"]);

/** The DevTools session of the convert Worker's isolate. */
async function devtools() {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = targets.find((t) => /convert/.test(`${t.id} ${t.title} ${t.url}`)) ?? targets[0];
  if (!target) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl ?? `ws://127.0.0.1:${port}/${target.id}`);
  await new Promise((ok, fail) => ws.once("open", ok).once("error", fail));
  let next = 1;
  const waiting = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString());
    const done = waiting.get(msg.id);
    if (!done) return;
    waiting.delete(msg.id);
    if (msg.error) done.fail(new Error(`${done.method}: ${JSON.stringify(msg.error)}`));
    else done.ok(msg.result);
  });
  const send = (method, params = {}) =>
    new Promise((ok, fail) => {
      const id = next++;
      waiting.set(id, { ok, fail, method });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => ws.close() };
}

/** Self time per function name and per crate (the first path segment of a Rust name). */
function summarize(profile) {
  const dt = new Map(); // node id -> microseconds of samples
  for (let i = 0; i < profile.samples.length; i++) {
    dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...dt.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map();
  const byCrate = new Map();
  for (const node of profile.nodes) {
    const us = dt.get(node.id) ?? 0;
    if (!us) continue;
    const name = node.callFrame.functionName || `(${node.callFrame.url || "anonymous"})`;
    byFn.set(name, (byFn.get(name) ?? 0) + us);
    const crate = crateOf(name);
    byCrate.set(crate, (byCrate.get(crate) ?? 0) + us);
  }
  const rows = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, us / 1000, (100 * us) / total]);
  return { totalMs: total / 1000, byFn: rows(byFn), byCrate: rows(byCrate) };
}

function crateOf(name) {
  // Rust symbols: "crate::module::fn", "<crate::Type as Trait>::fn", "core::ptr::drop_in_place<..>".
  const m = name.match(/^<?([A-Za-z_][A-Za-z0-9_]*)::/);
  if (m) return m[1];
  if (/^(ZSTD|HUF|FSE|HIST|ZDICT|POOL)_/.test(name)) return "zstd (C)";
  if (/^(memcpy|memset|memmove|dlmalloc|__rust_(alloc|dealloc|realloc))/.test(name)) return "(memory)";
  return name.startsWith("(") ? name : "(other)";
}

const w = await startConvert({
  namespaceRoot: args["namespace-root"],
  queue: { maxBatchSize: 1, maxBatchTimeout: 1, maxRetries: 0 },
  inspectorPort: port,
});
try {
  const health = await w.fetch("/health");
  if (health.status !== 200) throw new Error(`GET /health: HTTP ${health.status}`);
  await health.json();
  const dev = await devtools();
  await dev.send("Profiler.enable");
  await dev.send("Profiler.setSamplingInterval", { interval: Number(args["interval-us"]) });
  const { batch, ms: wallMs } = await convertOnce(w, {
    file: args.file,
    resource: "events",
    name: "profile-0",
    timeoutMs: 3_600_000,
    beforeSend: () => dev.send("Profiler.start"),
  });
  const { profile } = await dev.send("Profiler.stop");
  dev.close();
  if (args.out) writeFileSync(args.out, JSON.stringify(profile));
  const s = summarize(profile);
  const top = Number(args.top);
  const pct = (x) => `${x.toFixed(1).padStart(5)}%`;
  process.stdout.write(`conversion ${wallMs.toFixed(0)} ms wall; ${s.totalMs.toFixed(0)} ms sampled; timings_ms ${JSON.stringify(batch.timings_ms ?? {})}\n\n`);
  process.stdout.write("self time by crate\n");
  for (const [k, ms, p] of s.byCrate.slice(0, 20)) process.stdout.write(`${pct(p)} ${ms.toFixed(0).padStart(7)} ms  ${k}\n`);
  process.stdout.write(`\nself time by function (top ${top})\n`);
  for (const [k, ms, p] of s.byFn.slice(0, top)) process.stdout.write(`${pct(p)} ${ms.toFixed(0).padStart(7)} ms  ${k.slice(0, 160)}\n`);
} finally {
  await w.dispose();
}
