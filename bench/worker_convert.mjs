#!/usr/bin/env node
// One measured run of the convert Worker in workerd (Miniflare) on the local stack, for scripts/bench.
//
//   node bench/worker_convert.mjs --namespace-root NS [--file F --resource R] [--timeout-s 3600]
//
// Starts a fresh Miniflare (so the wasm memory high-water mark is this run's), times the cold start
// (Miniflare start -> first GET /health answer), and with --file puts the file into the local RAW
// bucket (untimed), sends its R2 notification and times it until the Worker logs its batch line.
// The table is <NS>.bench.<R>. Prints one JSON object:
//   {cold_start_ms, convert_ms, batch, wasm_memory_bytes, table}
import { parseArgs } from "node:util";
import { startConvert } from "../harness/lib/miniflare.mjs";
import { convertOnce } from "./convert_once.mjs";

const { values: args } = parseArgs({
  options: {
    "namespace-root": { type: "string" },
    file: { type: "string" },
    resource: { type: "string", default: "events" },
    "timeout-s": { type: "string", default: "3600" },
  },
});
if (!args["namespace-root"]) throw new Error("--namespace-root is required");

const t0 = performance.now();
// One message per batch: the queue hands it over at once instead of waiting for its batch window.
const w = await startConvert({
  namespaceRoot: args["namespace-root"],
  queue: { maxBatchSize: 1, maxBatchTimeout: 1, maxRetries: 0 },
});
const out = {};
try {
  const health = await w.fetch("/health");
  if (health.status !== 200) throw new Error(`GET /health: HTTP ${health.status}`);
  await health.json();
  out.cold_start_ms = performance.now() - t0;

  if (args.file) {
    const { batch, ms } = await convertOnce(w, {
      file: args.file,
      resource: args.resource,
      timeoutMs: Number(args["timeout-s"]) * 1000,
    });
    out.convert_ms = ms;
    out.batch = batch;
    out.wasm_memory_bytes = batch.wasm_memory_bytes;
    out.table = `${w.namespaceRoot}.bench.${args.resource}`;
  }
} finally {
  await w.dispose();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
