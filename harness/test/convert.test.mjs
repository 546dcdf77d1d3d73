// The convert Worker inside workerd (Miniflare) against the real local stack (SeaweedFS Iceberg REST
// catalog + S3): issue 3's list. Every test runs its own Miniflare (fresh local R2 + queue) and writes
// under its own namespace root, so tests do not see each other's tables.
//
// Needs: crates/convert/build (scripts/build-workers convert), the stack (scripts/stack start), the
// venv (PyIceberg, DuckDB). Run: node --test --test-concurrency=1 harness/test/
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { checkTable, count, generateLarge, genParquet, rawKey, sumField } from "../lib/fixtures.mjs";
import { convertBuild, startConvert } from "../lib/miniflare.mjs";
import { Notifier } from "../lib/notifier.mjs";
import { boundedFetch, reportIfAbandoned, waitFor } from "../lib/bounded.mjs";
import { assertNothingLeftOpen } from "../lib/leftovers.mjs";
import { Catalog, PYTHON, run, stackRunning, stackSettings, stackStorageProblem, startStack, stopStack } from "../lib/stack.mjs";

const MiB = 1024 * 1024;
// icepipe generate: about 64 bytes per row, so 9.5M rows is about 600 MB of raw Parquet.
const LARGE_ROWS = Number(process.env.HARNESS_LARGE_ROWS ?? 9_500_000);

let work;
let catalog;

before(async () => {
  assert.ok(convertBuild(), "crates/convert/build/index.js + index_bg.wasm missing: run scripts/build-workers convert");
  assert.ok(existsSync(PYTHON), `${PYTHON} missing: run scripts/stack start`);
  assert.ok(await stackRunning(), "the local stack is not running: run scripts/stack start");
  work = mkdtempSync(path.join(os.tmpdir(), "icepipe-harness-"));
  catalog = new Catalog();
}, { timeout: 60_000 });

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
}, { timeout: 60_000 });
after(assertNothingLeftOpen, { timeout: 120_000 });

// Retry delays of the Worker (base * 2^(attempt-1), capped): seconds, not the deployed minutes.
const TEST_BINDINGS = { RETRY_BASE_SECONDS: "1", RETRY_MAX_SECONDS: "8" };

// The Worker of the running test: waits give up early when it dead-letters (no test expects that).
let activeWorker = null;

/** Reason to stop waiting now: a dead-lettered message or a stack that cannot store data. */
function hopeless() {
  const dlq = activeWorker?.deadLettered() ?? [];
  if (dlq.length > 0) return `${dlq.length} message(s) dead-lettered: ${JSON.stringify(dlq[0])}`;
  return stackStorageProblem();
}

/**
 * Starts a convert Worker for test `t`; on failure the Worker's last log lines join the error (a
 * timed-out wait already carries them, with the stack's state).
 */
async function withWorker(t, opts, fn) {
  const w = await startConvert({ ...opts, bindings: { ...TEST_BINDINGS, ...(opts.bindings ?? {}) } });
  const notifier = new Notifier(w.mf, opts.notifier ?? {});
  activeWorker = w;
  try {
    await reportIfAbandoned(t, () => fn(w, notifier));
  } catch (e) {
    if (e.name !== "WaitTimeout") e.message += `\n--- convert Worker output (namespace root ${w.namespaceRoot}) ---\n${w.logs.text(60)}`;
    throw e;
  } finally {
    activeWorker = null;
    await notifier._watch?.stop();
    await w.dispose();
  }
}

/** Waits until the Worker has acknowledged at least `n` messages in total (from its batch lines). */
function waitAcked(w, n, timeoutMs = 120_000) {
  return waitFor(() => sumField(w.batches(), "acked") >= n, {
    timeoutMs,
    what: `${n} acknowledged messages`,
    failIf: hopeless,
  });
}

/** Waits until `ident` holds `rows` rows (current snapshot's total-records); returns its summary. */
function waitRows(ident, rows, timeoutMs = 120_000) {
  return waitFor(
    async () => {
      const s = await catalog.tableSummary(ident);
      return s && s.totalRecords >= rows ? s : null;
    },
    { timeoutMs, what: `${ident} to hold ${rows} rows`, failIf: hopeless },
  );
}

function dir(name) {
  return path.join(work, name);
}

/** n files of `rows` rows each for one table, ids contiguous from idStart. */
async function files(name, n, rows, idStart) {
  return genParquet(
    Array.from({ length: n }, (_, i) => ({
      out: path.join(dir(name), `f${i}.parquet`),
      rows,
      id_start: idStart + i * rows,
      seed: idStart + i,
    })),
  );
}

function assertChecked(result, what) {
  assert.ok(result.ok, `${what}: readers disagree with the source files:\n${(result.problems ?? []).join("\n")}`);
}

/** The entry for `ident` anywhere in GET /tables' JSON (an object whose `table` or `name` is it). */
function findTableEntry(json, ident) {
  if (Array.isArray(json)) {
    for (const x of json) {
      const found = findTableEntry(x, ident);
      if (found) return found;
    }
  } else if (json && typeof json === "object") {
    if (json.table === ident || json.name === ident) return json;
    if (json[ident] && typeof json[ident] === "object") return { table: ident, ...json[ident] };
    for (const v of Object.values(json)) {
      const found = findTableEntry(v, ident);
      if (found) return found;
    }
  }
  return null;
}

// Overwrites the middle of one row group's column chunks with garbage (argv: file, row group): the
// footer still describes the file, the pages no longer decode.
const CORRUPT_ROW_GROUP = `
import sys, pyarrow.parquet as pq
path, g = sys.argv[1], int(sys.argv[2])
rg = pq.ParquetFile(path).metadata.row_group(g)
with open(path, "r+b") as f:
    for c in range(rg.num_columns):
        col = rg.column(c)
        start = col.dictionary_page_offset or col.data_page_offset
        f.seek(start + col.total_compressed_size // 2)
        f.write(b"\\xde\\xad" * 16)
`;

/** The R2 rules layer in front of the stack's catalog: GET|POST /_rules/<what>. */
async function rules(what, init = {}) {
  const r = await boundedFetch(`${stackSettings().catalogUri}/_rules/${what}`, init, { timeoutMs: 15_000, what: `the rules layer (/_rules/${what})` });
  assert.ok(r.ok, `/_rules/${what}: HTTP ${r.status} (is the stack's catalog the rules layer?)`);
  return r.status === 204 ? null : r.json();
}

/** Injects a fault into the rules layer's next commits (see stack/r2-rules/faults.mjs). */
function injectFault(fault) {
  return rules("faults", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(fault) });
}

/** Waits for the first _errors/ records (`what` they are); returns them all. */
function waitErrorRecords(notifier, what, timeoutMs) {
  return waitFor(async () => {
    const e = await errorRecords(notifier);
    return e.length ? e : null;
  }, { timeoutMs, what });
}

async function errorRecords(notifier) {
  const out = [];
  for (const o of await notifier.list("_errors/")) {
    out.push({ key: o.key, record: JSON.parse(await notifier.getText(o.key)) });
  }
  return out;
}

describe("convert Worker in workerd", { concurrency: 1 }, () => {
  test("raw Parquet put + notification: the table appears; PyIceberg and DuckDB read the same rows", { timeout: 180_000 }, async (t) => {
    await withWorker(t, {}, async (w, n) => {
      const health = await w.fetch("/health");
      assert.equal(health.status, 200, "GET /health without a token");
      const h = await health.json();
      assert.equal(h.ok, true);
      assert.equal(typeof h.wasm_memory_bytes, "number");

      const [f] = await files("single", 1, 2000, 0);
      const key = rawKey("shop", "orders", "load1-0");
      const note = await n.putRaw(key, { file: f.out });
      const ident = `${w.namespaceRoot}.shop.orders`;
      await waitAcked(w, 1);
      const s = await waitRows(ident, 2000);
      assert.equal(s.totalRecords, 2000);
      assert.equal(s.snapshotCount, 1, "one file, one snapshot");

      const checked = await checkTable(ident, { expect: [f.out] });
      assertChecked(checked, ident);
      assert.deepEqual(checked.rows, { pyiceberg: 2000, duckdb: 2000 });

      // The batch log line carries the contract's fields.
      const b = w.batches().find((x) => count(x.acked) >= 1);
      for (const k of ["messages", "tables", "files", "rows", "bytes", "timings_ms", "commit_attempts", "acked", "retried", "errors", "wasm_memory_bytes"]) {
        assert.ok(k in b, `batch log line lacks "${k}": ${JSON.stringify(b)}`);
      }
      assert.equal(count(b.messages), 1);
      assert.equal(count(b.rows), 2000);
      assert.ok(b.wasm_memory_bytes > 0 && b.wasm_memory_bytes < 128 * MiB, `wasm_memory_bytes ${b.wasm_memory_bytes}`);

      // GET /tables (admin): the table with its current snapshot, snapshot count, files, rows, bytes.
      const t = await w.admin("/tables");
      assert.equal(t.status, 200);
      const listing = await t.json();
      const entry = findTableEntry(listing, ident);
      assert.ok(entry, `GET /tables does not list ${ident}: ${JSON.stringify(listing)}`);
      assert.equal(entry.rows, 2000, `GET /tables rows: ${JSON.stringify(entry)}`);
      assert.equal(entry.snapshot_count, 1, `GET /tables snapshot_count: ${JSON.stringify(entry)}`);
      assert.ok(entry.data_files >= 1 && entry.bytes > 0, `GET /tables data_files/bytes: ${JSON.stringify(entry)}`);
      assert.ok(entry.current_snapshot_id !== undefined && entry.current_snapshot_id !== null, `GET /tables current_snapshot_id: ${JSON.stringify(entry)}`);
      assert.equal(note.object.key, key);
    });
  });

  for (const mode of ["copy-on-write", "merge-on-read"]) test(`merge files (${mode}): updates and deletes by key through the table coordinator; an older file after a newer one and redeliveries change nothing`, { timeout: 240_000 }, async (t) => {
    await withWorker(t, {}, async (w, n) => {
      const rowsOf = (ids, version, deleted = false) => ids.map((id) => [id, version, deleted]);
      const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
      const [base, newer, older, expected] = await genParquet([
        { out: path.join(dir("merge"), "base.parquet"), kind: "merge", load_id: "L1", rows: rowsOf(range(0, 100), 1) },
        { out: path.join(dir("merge"), "newer.parquet"), kind: "merge", load_id: "L3", rows: [...rowsOf(range(10, 20), 3), ...rowsOf(range(30, 35), 3, true), [200, 3, false]] },
        // Includes 30..35, deleted at 3 by the newer file: they stay deleted (tombstones).
        { out: path.join(dir("merge"), "older.parquet"), kind: "merge", load_id: "L2", rows: [...rowsOf(range(0, 40), 2), [300, 2, false]] },
        {
          out: path.join(dir("merge"), "expected.parquet"),
          kind: "merge",
          footer: false,
          // 0..10, 20..30 and 35..40 at 2 (the older file, newer than the base), 10..20 at 3 (the
          // older file's version 2 loses), 30..35 deleted, 40..100 at 1, 200 at 3, 300 at 2.
          rows: [...rowsOf(range(0, 10), 2), ...rowsOf(range(10, 20), 3), ...rowsOf(range(20, 30), 2), ...rowsOf(range(35, 40), 2), ...rowsOf(range(40, 100), 1), [200, 3, false], [300, 2, false]],
        },
      ]);
      const ident = `${w.namespaceRoot}.shop.accounts`;
      const notes = [];
      notes.push(await n.putRaw(rawKey("shop", "accounts", "L1-0001"), { file: base.out }));
      await waitAcked(w, 1);
      await waitRows(ident, 100);
      await catalog.setProperties(ident, { "write.merge.mode": mode });
      notes.push(await n.putRaw(rawKey("shop", "accounts", "L3-0001"), { file: newer.out }));
      await waitAcked(w, 2);
      notes.push(await n.putRaw(rawKey("shop", "accounts", "L2-0001"), { file: older.out }));
      await waitAcked(w, 3);
      const before = await catalog.tableSummary(ident);
      // Every merge notification delivered again: held by the ledger, nothing committed.
      await n.send(notes);
      await waitAcked(w, 6);
      const after = await catalog.tableSummary(ident);
      assert.equal(after.snapshotCount, before.snapshotCount, "redelivered merge files committed nothing");
      assert.equal(after.snapshotCount, 3, "one snapshot per merge file");
      const current = after.snapshots.find((s) => s["snapshot-id"] === after.currentSnapshotId);
      const deleteFiles = Number(current.summary["total-delete-files"]);
      if (mode === "copy-on-write") assert.equal(deleteFiles, 0, JSON.stringify(current.summary));
      else assert.ok(deleteFiles > 0, `merge-on-read wrote position deletes: ${JSON.stringify(current.summary)}`);
      const checked = await checkTable(ident, { expect: [expected.out] });
      assertChecked(checked, ident);
      assert.equal(w.deadLettered().length, 0);
    });
  });

  test("100 files in one batch for two tables: exactly one new snapshot per table", { timeout: 240_000 }, async (t) => {
    await withWorker(t, {}, async (w, n) => {
      // Both tables exist first (one file each), so "new" is measured on existing tables.
      const ordersFirst = await files("orders0", 1, 100, 1_000_000);
      const refundsFirst = await files("refunds0", 1, 100, 2_000_000);
      await n.putRawMany([
        { key: rawKey("shop", "orders", "first"), body: { file: ordersFirst[0].out } },
        { key: rawKey("shop", "refunds", "first"), body: { file: refundsFirst[0].out } },
      ]);
      const orders = `${w.namespaceRoot}.shop.orders`;
      const refunds = `${w.namespaceRoot}.shop.refunds`;
      await waitAcked(w, 2);
      const before0 = await waitRows(orders, 100);
      const before1 = await waitRows(refunds, 100);

      const o = await files("orders", 50, 200, 0);
      const r = await files("refunds", 50, 200, 500_000);
      const items = [
        ...o.map((f, i) => ({ key: rawKey("shop", "orders", `load2-${i}`, "2026-04-02"), body: { file: f.out } })),
        ...r.map((f, i) => ({ key: rawKey("shop", "refunds", `load2-${i}`, "2026-04-02"), body: { file: f.out } })),
      ];
      const batchesBefore = w.batches().length;
      await n.putRawMany(items); // one sendBatch of 100 messages
      await waitAcked(w, 102, 180_000);
      const big = w.batches().slice(batchesBefore);
      assert.equal(big.length, 1, `the 100 messages arrived in ${big.length} batches (${big.map((b) => count(b.messages)).join(", ")}); the test needs one`);
      assert.equal(count(big[0].messages), 100);

      const after0 = await waitRows(orders, 100 + 50 * 200);
      const after1 = await waitRows(refunds, 100 + 50 * 200);
      assert.equal(after0.snapshotCount - before0.snapshotCount, 1, `${orders}: ${after0.snapshotCount - before0.snapshotCount} new snapshots`);
      assert.equal(after1.snapshotCount - before1.snapshotCount, 1, `${refunds}: ${after1.snapshotCount - before1.snapshotCount} new snapshots`);
      assertChecked(await checkTable(orders, { expect: [ordersFirst[0].out, ...o.map((f) => f.out)] }), orders);
      assertChecked(await checkTable(refunds, { expect: [refundsFirst[0].out, ...r.map((f) => f.out)] }), refunds);
    });
  });

  test("every notification delivered three times (in one batch and across batches): rows once", { timeout: 240_000 }, async (t) => {
    await withWorker(t, {}, async (w, n) => {
      const fs3 = await files("dups", 3, 500, 0);
      const notes = [];
      for (const [i, f] of fs3.entries()) notes.push(n.notification(await n.put(rawKey("app", "events", `load-${i}`), { file: f.out })));
      const ident = `${w.namespaceRoot}.app.events`;

      // Three copies of each in one batch.
      await n.send(notes, { times: 3 });
      await waitAcked(w, 9);
      assert.equal(count(w.batches()[0].messages), 9, `the first batch should hold all nine deliveries: ${JSON.stringify(w.batches()[0])}`);
      const first = await waitRows(ident, 1500);
      // Then each again, twice more, in later batches (in another order).
      await n.send([...notes].reverse());
      await waitAcked(w, 12);
      await n.send([notes[1]]);
      await waitAcked(w, 13);
      await n.send([notes[2], notes[0]]);
      await waitAcked(w, 15);

      const s = await catalog.tableSummary(ident);
      assert.equal(s.totalRecords, 1500, `rows after redeliveries: ${s.totalRecords}, expected 1500`);
      assert.equal(s.snapshotCount, first.snapshotCount, "redeliveries of committed objects must not commit new snapshots");
      assertChecked(await checkTable(ident, { expect: fs3.map((f) => f.out) }), ident);
      assert.equal(sumField(w.batches(), "retried"), 0, "nothing should have been retried");
    });
  });

  test("one corrupt object in a batch: an _errors/ record names it; the others are committed and acknowledged", { timeout: 180_000 }, async (t) => {
    await withWorker(t, {}, async (w, n) => {
      const good = await files("mixed", 4, 300, 0);
      const items = good.map((f, i) => ({ key: rawKey("app", "clicks", `load-${i}`), body: { file: f.out } }));
      const badKey = rawKey("app", "clicks", "load-corrupt");
      // Parquet magic at both ends, garbage between: "looks like" Parquet, is not.
      const corrupt = Buffer.concat([Buffer.from("PAR1"), Buffer.alloc(2000, 0x5a), Buffer.from("PAR1")]);
      items.splice(2, 0, { key: badKey, body: corrupt });
      const notes = await n.putRawMany(items);
      const badEtag = notes.find((x) => x.object.key === badKey).object.eTag;
      const ident = `${w.namespaceRoot}.app.clicks`;

      await waitAcked(w, 5);
      const s = await waitRows(ident, 1200);
      assert.equal(s.totalRecords, 1200);
      assertChecked(await checkTable(ident, { expect: good.map((f) => f.out) }), ident);

      const errs = await waitFor(async () => {
        const e = await errorRecords(n);
        return e.length ? e : null;
      }, { timeoutMs: 30_000, what: "an _errors/ record" });
      assert.equal(errs.length, 1, `expected one error record, got ${JSON.stringify(errs)}`);
      const [{ key: errKey, record }] = errs;
      assert.match(errKey, /^_errors\/\d{4}-\d{2}-\d{2}\/[^/]+\.json$/, "error record key layout");
      assert.equal(record.key, badKey);
      assert.equal(record.etag, badEtag);
      assert.equal(record.table, ident);
      assert.ok(record.reason && typeof record.reason === "string", `reason: ${JSON.stringify(record)}`);
      for (const k of ["kind", "time"]) assert.ok(record[k], `error record lacks ${k}: ${JSON.stringify(record)}`);

      const batches = w.batches();
      assert.equal(sumField(batches, "acked"), 5, "all five messages acknowledged (the corrupt one after its record)");
      assert.equal(sumField(batches, "retried"), 0, "a corrupt file is permanent: no retry");
      assert.ok(sumField(batches, "errors") >= 1, "the batch line counts the error");
      assert.equal(w.deadLettered().length, 0, "nothing dead-lettered");
    });
  });

  test("a raw file whose _loaded_at is a string: an _errors/ record names the column and type, no table is created, the other table and GET /tables are fine", { timeout: 180_000 }, async (t) => {
    await withWorker(t, {}, async (w, n) => {
      const [good, poisoned] = await genParquet([
        { out: path.join(dir("poisoned"), "good.parquet"), rows: 300, id_start: 0 },
        { out: path.join(dir("poisoned"), "bad.parquet"), rows: 300, id_start: 0, kind: "poisoned" },
      ]);
      const badKey = rawKey("app", "poisoned", "load-0");
      await n.putRawMany([
        { key: rawKey("app", "clicks", "load-0"), body: { file: good.out } },
        { key: badKey, body: { file: poisoned.out } },
      ]);
      const ident = `${w.namespaceRoot}.app.clicks`;
      await waitAcked(w, 2);
      assert.equal((await waitRows(ident, 300)).totalRecords, 300);
      const errs = await waitErrorRecords(n, "the _errors/ record of the poisoned file", 30_000);
      assert.equal(errs.length, 1, JSON.stringify(errs));
      assert.equal(errs[0].record.key, badKey);
      assert.match(errs[0].record.reason, /_loaded_at is one of icepipe's own columns and must be a timestamp with a time zone .*not Utf8/);
      assert.equal(await catalog.tableSummary(`${w.namespaceRoot}.app.poisoned`), null, "no table for the poisoned file");
      assert.equal(sumField(w.batches(), "retried"), 0, "a poisoned file is permanent: no retry");
      const tables = await w.admin("/tables");
      const listing = await tables.json();
      assert.equal(tables.status, 200, JSON.stringify(listing));
      assert.equal(findTableEntry(listing, ident)?.rows, 300, JSON.stringify(listing));
    });
  });

  test("GET /tables lists a table nothing can load (partitioned by day() of a string) with its reason, next to a healthy one", { timeout: 180_000 }, async (t) => {
    await withWorker(t, {}, async (w, n) => {
      const [good] = await files("unloadable", 1, 200, 0);
      await n.putRaw(rawKey("app", "healthy", "load-0"), { file: good.out });
      const ident = `${w.namespaceRoot}.app.healthy`;
      await waitAcked(w, 1);
      await waitRows(ident, 200);
      // What a raw file with a string _loaded_at once made (before such files were refused): the
      // catalog accepts it, no Iceberg library can bind its partition spec.
      const s = stackSettings();
      const ns = encodeURIComponent(`${w.namespaceRoot}.app`.split(".").join("\x1f"));
      const created = await boundedFetch(
        `${s.catalogUri}/v1/warehouse/namespaces/${ns}/tables`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${s.token}`, "content-type": "application/json" },
          body: JSON.stringify({
            name: "broken",
            schema: { type: "struct", "schema-id": 0, fields: [{ id: 1, name: "_loaded_at", required: false, type: "string" }] },
            "partition-spec": { "spec-id": 0, fields: [{ "source-id": 1, "field-id": 1000, name: "_loaded_at_day", transform: "day" }] },
            properties: {},
          }),
        },
        { timeoutMs: 15_000, what: "creating the broken table in the catalog" },
      );
      assert.equal(created.status, 200, await created.text());
      const r = await w.admin("/tables");
      const listing = await r.json();
      assert.equal(r.status, 200, JSON.stringify(listing));
      assert.equal(findTableEntry(listing, ident)?.rows, 200, JSON.stringify(listing));
      const broken = findTableEntry(listing, `${w.namespaceRoot}.app.broken`);
      assert.ok(broken?.load_error, `the broken table is listed with its reason: ${JSON.stringify(listing)}`);
      process.stderr.write(`# GET /tables, unloadable table: ${broken.load_error}\n`);
    });
  });

  test("a 2,000-column raw file converts inside workerd under 128 MiB of wasm memory", { timeout: 300_000 }, async (t) => {
    const COLUMNS = 2_000;
    const ROWS = 2_000;
    const [wide] = await genParquet([{ out: path.join(dir("wide"), "wide.parquet"), rows: ROWS, id_start: 0, kind: "wide", columns: COLUMNS }]);
    await withWorker(t, {}, async (w, n) => {
      await n.putRaw(rawKey("crm", "wide", "load-0"), { file: wide.out });
      const ident = `${w.namespaceRoot}.crm.wide`;
      await waitAcked(w, 1, 240_000);
      const s = await waitRows(ident, ROWS, 60_000);
      assert.equal(s.totalRecords, ROWS);
      const b = w.batches().find((x) => count(x.acked) >= 1);
      const health = await (await w.fetch("/health")).json();
      const peak = Math.max(b.wasm_memory_bytes ?? 0, health.wasm_memory_bytes ?? 0);
      process.stderr.write(`# ${COLUMNS}-column raw file (${(wide.bytes / MiB).toFixed(1)} MiB, ${ROWS} rows): wasm memory high-water ${(peak / MiB).toFixed(1)} MiB\n`);
      assert.ok(peak > 0 && peak < 128 * MiB, `wasm memory high-water ${peak} bytes is not under 128 MiB`);
      const m = await catalog.loadTable(ident);
      const fields = m.schemas.find((x) => x["schema-id"] === m["current-schema-id"]).fields;
      assert.equal(fields.length, COLUMNS + 2, "every column, plus _loaded_at and _load_id");
      assertChecked(await checkTable(ident, { countOnly: true, expectRows: ROWS }), ident);
    });
  });

  test("a raw file wider than MAX_COLUMNS (2,048) is refused with an error record naming the limit; no table, no retry, the Worker converts the next file", { timeout: 180_000 }, async (t) => {
    const [tooWide] = await genParquet([{ out: path.join(dir("too-wide"), "too-wide.parquet"), rows: 10, id_start: 0, kind: "wide", columns: 2_100 }]);
    const [next] = await files("after-too-wide", 1, 100, 0);
    await withWorker(t, {}, async (w, n) => {
      const badKey = rawKey("crm", "too_wide", "load-0");
      await n.putRaw(badKey, { file: tooWide.out });
      const errs = await waitErrorRecords(n, "the _errors/ record of the file past MAX_COLUMNS", 60_000);
      assert.equal(errs.length, 1, JSON.stringify(errs));
      assert.equal(errs[0].record.key, badKey);
      assert.match(errs[0].record.reason, /the raw file \(2100 columns\) goes past 2048 columns, the maximum per table \(MAX_COLUMNS\), at column /);
      assert.equal(await catalog.tableSummary(`${w.namespaceRoot}.crm.too_wide`), null, "no table for the refused file");
      assert.equal(sumField(w.batches(), "retried"), 0, "past the limit is permanent: no retry");
      await n.putRaw(rawKey("crm", "after", "load-0"), { file: next.out });
      assert.equal((await waitRows(`${w.namespaceRoot}.crm.after`, 100)).totalRecords, 100);
    });
  });

  test("the catalog stopped mid-run: messages are retried with delay and land once it is back; nothing lost", { timeout: 360_000 }, async (t) => {
    // No queue-level retry delay and a short batch window: the gaps between attempts are then the
    // Worker's own retry delays (retry({delaySeconds}) growing with the attempt).
    await withWorker(t, { queue: { maxRetries: 20, retryDelay: 0, maxBatchTimeout: 0.1 } }, async (w, n) => {
      const ident = `${w.namespaceRoot}.app.orders`;
      const pre = await files("outage-pre", 2, 400, 0);
      await n.putRawMany(pre.map((f, i) => ({ key: rawKey("app", "orders", `pre-${i}`), body: { file: f.out } })));
      await waitAcked(w, 2);
      await waitRows(ident, 800);

      const during = await files("outage", 3, 400, 100_000);
      await stopStack();
      try {
        const from = w.batches().length;
        await n.putRawMany(during.map((f, i) => ({ key: rawKey("app", "orders", `during-${i}`), body: { file: f.out } })));
        // Three failed attempts while the catalog is down (two gaps between them).
        await waitFor(() => w.batches().slice(from).filter((b) => count(b.retried) > 0).length >= 3, {
          timeoutMs: 150_000,
          what: "three batches that retried their messages while the catalog is down",
        });
        const failed = w.batches().slice(from);
        assert.equal(sumField(failed, "acked"), 0, `messages were acknowledged while the catalog was down: ${JSON.stringify(failed)}`);
        assert.ok(failed.every((b) => count(b.retried) === count(b.messages)), `every message of a failed batch must be retried: ${JSON.stringify(failed)}`);
        const times = w.logs.lines.filter((l) => l.json?.event === "batch").slice(from).map((l) => l.timestamp);
        const gaps = times.slice(1).map((t, i) => t - times[i]);
        process.stderr.write(`# outage: ${failed.length} failed attempts, gaps between them ${gaps.join(", ")} ms\n`);
        assert.ok(gaps.every((g) => g >= 900), `retries were not delayed (>= 1 s): gaps between attempts ${gaps.join(", ")} ms`);
        assert.ok(gaps[gaps.length - 1] > gaps[0], `the retry delay does not grow with the attempt: gaps ${gaps.join(", ")} ms`);
      } finally {
        await startStack();
      }
      await waitAcked(w, 5, 240_000);
      const s = await waitRows(ident, 2000, 60_000);
      assert.equal(s.totalRecords, 2000);
      assertChecked(await checkTable(ident, { expect: [...pre, ...during].map((f) => f.out) }), ident);
      assert.equal(w.deadLettered().length, 0, `dead-lettered: ${JSON.stringify(w.deadLettered())}`);
    });
  });

  test("POST /replay of a prefix after a successful load: no duplicates", { timeout: 180_000 }, async (t) => {
    await withWorker(t, {}, async (w, n) => {
      const fs4 = await files("replay", 4, 250, 0);
      await n.putRawMany(
        fs4.map((f, i) => ({ key: rawKey("crm", "contacts", `load-${i}`, i < 3 ? "2026-04-01" : "2026-04-02"), body: { file: f.out } })),
      );
      const ident = `${w.namespaceRoot}.crm.contacts`;
      await waitAcked(w, 4);
      const loaded = await waitRows(ident, 1000);

      const post = (body) => w.admin("/replay", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      // Nothing said about what to replay: refused, nothing sent (it would re-send the whole bucket).
      for (const body of [{}, { dry_run: false }]) {
        const refused = await post(body);
        const e = await refused.json();
        assert.equal(refused.status, 400, `POST /replay ${JSON.stringify(body)}: ${JSON.stringify(e)}`);
        assert.match(e.error, /prefix/);
      }
      let r = await post({ prefix: "sources/crm/contacts/", dry_run: true });
      assert.equal(r.status, 200);
      let j = await r.json();
      assert.deepEqual({ matched: j.matched, sent: j.sent, dry_run: j.dry_run }, { matched: 4, sent: 0, dry_run: true }, JSON.stringify(j));

      r = await post({ prefix: "sources/crm/contacts/", since: "2100-01-01T00:00:00Z" });
      assert.equal(r.status, 200);
      j = await r.json();
      assert.equal(j.matched, 0, `since in the future matched ${j.matched}`);

      r = await post({ prefix: "sources/crm/contacts/year=2026/month=04/day=01/" });
      j = await r.json();
      assert.equal(r.status, 200, JSON.stringify(j));
      assert.deepEqual({ matched: j.matched, sent: j.sent }, { matched: 3, sent: 3 }, JSON.stringify(j));
      r = await post({ prefix: "sources/crm/contacts/" });
      j = await r.json();
      assert.deepEqual({ matched: j.matched, sent: j.sent }, { matched: 4, sent: 4 }, JSON.stringify(j));
      await waitAcked(w, 4 + 3 + 4);

      const s = await catalog.tableSummary(ident);
      assert.equal(s.totalRecords, 1000, `rows after replay: ${s.totalRecords}`);
      assert.equal(s.snapshotCount, loaded.snapshotCount, "replaying committed objects must not commit");
      assertChecked(await checkTable(ident, { expect: fs4.map((f) => f.out) }), ident);
    });
  });

  test("the cron trigger maintains each table through its coordinator: small files compacted, GET /tables?health=1 shows it, a replay adds nothing", { timeout: 240_000 }, async (t) => {
    await withWorker(t, {}, async (w, n) => {
      const fs6 = await files("maintain", 6, 300, 0);
      await n.putRawMany(fs6.map((f, i) => ({ key: rawKey("shop", "clicks", `load-${i}`), body: { file: f.out } })));
      const ident = `${w.namespaceRoot}.shop.clicks`;
      await waitAcked(w, 6);
      const loaded = await waitRows(ident, 1800);
      const health = async () => {
        const r = await w.admin("/tables?health=1");
        assert.equal(r.status, 200);
        const entry = findTableEntry(await r.json(), ident);
        assert.ok(entry?.health, `GET /tables?health=1 has no health for ${ident}: ${JSON.stringify(entry)}`);
        return entry.health;
      };
      let h = await health();
      assert.equal(h.data_files, 6, JSON.stringify(h));
      assert.equal(h.ledger.objects, 6, JSON.stringify(h.ledger));
      assert.ok(h.next_maintenance.some((s) => s.startsWith("compact 6 files")), JSON.stringify(h.next_maintenance));

      await w.fireCron();
      const line = w.logs.records("maintenance").find((r) => r.table === ident);
      assert.ok(line?.step, `no maintenance step logged for ${ident}: ${JSON.stringify(w.logs.records("maintenance"))}`);
      assert.equal(line.step.step, "compact", JSON.stringify(line));
      assert.equal(line.step.files_rewritten, 6, JSON.stringify(line));
      h = await health();
      assert.equal(h.data_files, 1, JSON.stringify(h));
      const compacted = await catalog.tableSummary(ident);
      assert.equal(compacted.totalRecords, 1800);
      assert.equal(compacted.snapshotCount, loaded.snapshotCount + 1, "one replace snapshot");
      assertChecked(await checkTable(ident, { expect: fs6.map((f) => f.out) }), ident);

      // Every file replayed after the compaction: the ledger still holds them.
      const r = await w.admin("/replay", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prefix: "sources/shop/clicks/" }) });
      const j = await r.json();
      assert.deepEqual({ status: r.status, sent: j.sent }, { status: 200, sent: 6 }, JSON.stringify(j));
      await waitAcked(w, 12);
      const after = await catalog.tableSummary(ident);
      assert.equal(after.totalRecords, 1800, `rows after the replay: ${after.totalRecords}`);
      assert.equal(after.snapshotCount, compacted.snapshotCount, "the replay must not commit");
    });
  });

  test("POST /replay of recorded errors after fixing the file: the rows land", { timeout: 180_000 }, async (t) => {
    await withWorker(t, {}, async (w, n) => {
      const key = rawKey("crm", "deals", "load-1");
      await n.putRaw(key, Buffer.from("this is not parquet"));
      await waitAcked(w, 1);
      const errs = await waitFor(async () => {
        const e = await errorRecords(n);
        return e.length ? e : null;
      }, { timeoutMs: 30_000, what: "the _errors/ record of the bad file" });
      assert.equal(errs[0].record.key, key);
      const ident = `${w.namespaceRoot}.crm.deals`;

      // The file is fixed in place (no notification: only the replay may bring it in).
      const [fixed] = await files("fixed", 1, 700, 0);
      await n.put(key, { file: fixed.out });

      const post = (body) => w.admin("/replay", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      let r = await post({ errors: true, dry_run: true });
      let j = await r.json();
      assert.equal(r.status, 400, `replay of errors without a prefix or "all": ${JSON.stringify(j)}`);
      assert.match(j.error, /"all": true/);
      r = await post({ errors: true, all: true, dry_run: true });
      j = await r.json();
      assert.equal(r.status, 200, JSON.stringify(j));
      assert.deepEqual({ matched: j.matched, sent: j.sent, dry_run: j.dry_run }, { matched: 1, sent: 0, dry_run: true }, JSON.stringify(j));
      r = await post({ errors: true, all: true });
      j = await r.json();
      assert.deepEqual({ matched: j.matched, sent: j.sent }, { matched: 1, sent: 1 }, JSON.stringify(j));

      await waitAcked(w, 2);
      const s = await waitRows(ident, 700);
      assert.equal(s.totalRecords, 700);
      assertChecked(await checkTable(ident, { expect: [fixed.out] }), ident);
    });
  });

  test("10% of the notifications lost: the cron sweep queues what no table holds; every row lands once; GET /audit agrees", { timeout: 300_000 }, async (t) => {
    // A page of 7 objects per sweep run: 40 objects take 6 runs for a pass, resumed from the cursor.
    const bindings = { SWEEP_LIMIT: "7", SWEEP_MIN_AGE_SECONDS: "0" };
    await withWorker(t, { bindings, notifier: { lossRate: 0.1 } }, async (w, n) => {
      const orders = await files("lost-orders", 20, 100, 0);
      const refunds = await files("lost-refunds", 20, 100, 100_000);
      await n.putRawMany([
        ...orders.map((f, i) => ({ key: rawKey("shop", "orders", `lost-${i}`, i % 2 ? "2026-04-01" : "2026-04-02"), body: { file: f.out } })),
        ...refunds.map((f, i) => ({ key: rawKey("shop", "refunds", `lost-${i}`), body: { file: f.out } })),
      ]);
      assert.equal(n.dropped.length, 4, "4 of the 40 notifications lost");
      assert.equal(n.sent.length, 36);
      const ident = { orders: `${w.namespaceRoot}.shop.orders`, refunds: `${w.namespaceRoot}.shop.refunds` };
      await waitAcked(w, 36);
      const before = (await catalog.tableSummary(ident.orders)).totalRecords + (await catalog.tableSummary(ident.refunds)).totalRecords;
      assert.equal(before, 3600, "the delivered notifications' rows, no more");

      // GET /audit names the objects that never arrived.
      let r = await w.admin(`/audit?table=${ident.orders}`);
      assert.equal(r.status, 200);
      let audit = await r.json();
      const lostOrders = n.dropped.filter((d) => d.object.key.includes("/orders/")).map((d) => d.object.key).sort();
      assert.equal(audit.ok, false, JSON.stringify(audit));
      assert.deepEqual([...audit.tables[0].unaccounted].sort(), lostOrders, JSON.stringify(audit));

      // The sweep, run by its cron trigger until it completes a pass over the bucket.
      const fireSweep = () => w.fireCron();
      let sweeps = [];
      for (let run = 0; run < 10 && !sweeps.some((s) => s.report?.pass_complete); run++) {
        await fireSweep();
        sweeps = w.logs.records("sweep");
      }
      assert.ok(sweeps.every((s) => s.ok), JSON.stringify(sweeps));
      assert.equal(sweeps.length, 6, `runs of 7 objects for 40: ${JSON.stringify(sweeps.map((s) => s.report.examined))}`);
      assert.equal(sweeps.reduce((a, s) => a + s.report.examined, 0), 40);
      const queued = sweeps.flatMap((s) => s.report.unaccounted.map((u) => u.key)).sort();
      assert.deepEqual(queued, n.dropped.map((d) => d.object.key).sort(), "the sweep queues exactly the lost ones");
      await waitAcked(w, 40);
      await waitRows(ident.orders, 2000);
      await waitRows(ident.refunds, 2000);
      assertChecked(await checkTable(ident.orders, { expect: orders.map((f) => f.out) }), ident.orders);
      assertChecked(await checkTable(ident.refunds, { expect: refunds.map((f) => f.out) }), ident.refunds);

      // A second pass finds nothing to queue; late notifications of the lost ones change nothing.
      n.lossRate = 0;
      await n.send(n.dropped.splice(0));
      await waitAcked(w, 44);
      const seen = w.logs.records("sweep").length;
      for (let run = 0; run < 6; run++) await fireSweep();
      const again = w.logs.records("sweep").slice(seen);
      assert.equal(again.reduce((a, s) => a + s.report.unaccounted.length, 0), 0, JSON.stringify(again));
      r = await w.admin("/audit");
      audit = await r.json();
      assert.equal(audit.ok, true, JSON.stringify(audit));
      assert.equal(audit.tables.length, 2);
      for (const t of audit.tables) assert.deepEqual({ held: t.held, unaccounted: t.unaccounted.length }, { held: 20, unaccounted: 0 }, JSON.stringify(t));
      assert.equal((await catalog.tableSummary(ident.orders)).totalRecords, 2000, "rows once, after late notifications too");
    });
  });

  test("wrong or missing token: 401 and nothing sent", { timeout: 120_000 }, async (t) => {
    await withWorker(t, {}, async (w, n) => {
      const [f, sentinel] = await files("auth", 2, 100, 0);
      await n.putRaw(rawKey("crm", "notes", "load-0"), { file: f.out });
      await waitAcked(w, 1);
      await waitRows(`${w.namespaceRoot}.crm.notes`, 100);

      const body = JSON.stringify({ prefix: "sources/" });
      const headers = { "content-type": "application/json" };
      const wrongSameLength = w.adminToken.replace(/.$/, (c) => (c === "x" ? "y" : "x"));
      const attempts = [
        ["POST /replay without a token", w.admin("/replay", { method: "POST", headers, body }, null)],
        ["POST /replay with a wrong token", w.admin("/replay", { method: "POST", headers, body }, "not-the-token")],
        ["POST /replay with a wrong token of the same length", w.admin("/replay", { method: "POST", headers, body }, wrongSameLength)],
        ["POST /replay with a Basic header", w.fetch("/replay", { method: "POST", headers: { ...headers, authorization: `Basic ${w.adminToken}` }, body })],
        ["GET /tables without a token", w.admin("/tables", {}, null)],
        ["GET /tables with a wrong token", w.admin("/tables", {}, "nope")],
      ];
      for (const [what, p] of attempts) {
        const r = await p;
        assert.equal(r.status, 401, `${what}: HTTP ${r.status} ${await r.text()}`);
      }
      // Had any of those sent messages, they would be in the queue ahead of this sentinel.
      const before = sumField(w.batches(), "messages");
      await n.putRaw(rawKey("crm", "notes", "sentinel"), { file: sentinel.out });
      await waitAcked(w, 2);
      assert.equal(sumField(w.batches(), "messages") - before, 1, "messages other than the sentinel reached the queue");
      const ok = await w.fetch("/health");
      assert.equal(ok.status, 200, "GET /health needs no token");
    });
  });

  test("sustained load: 2,000 files into 3 tables, batches in flight together: rows once, nothing dead-lettered or recorded, commits within the pace and the catalog's budget", { timeout: 1_500_000 }, async (t) => {
    await withWorker(t, { queue: { maxBatchSize: 100, maxBatchTimeout: 1 } }, async (w, n) => {
      const tables = ["orders", "refunds", "events"];
      const perTable = [667, 667, 666];
      const generated = [];
      for (const [ti, name] of tables.entries()) generated.push(await files(`load-${name}`, perTable[ti], 20, ti * 1_000_000));
      await rules("reset", { method: "POST" });
      // Arrives in waves, interleaving the tables, as fast as the helper Worker can store it.
      const items = [];
      for (let i = 0; i < 667; i++) {
        for (const [ti, name] of tables.entries()) {
          const f = generated[ti][i];
          if (f) items.push({ key: rawKey("load", name, `f-${i}`, i % 2 ? "2026-05-01" : "2026-05-02"), body: { file: f.out } });
        }
      }
      assert.equal(items.length, 2000);
      for (let i = 0; i < items.length; i += 250) await n.putRawMany(items.slice(i, i + 250));
      await waitAcked(w, 2000, 1_200_000);

      for (const [ti, name] of tables.entries()) {
        const ident = `${w.namespaceRoot}.load.${name}`;
        const s = await waitRows(ident, perTable[ti] * 20, 60_000);
        assert.equal(s.totalRecords, perTable[ti] * 20, `${ident}: rows once`);
        assertChecked(await checkTable(ident, { expect: generated[ti].map((f) => f.out) }), ident);
      }
      assert.deepEqual(w.deadLettered(), [], "nothing dead-lettered");
      assert.deepEqual(await errorRecords(n), [], "no error record");

      // What the catalog saw: the tables' pace (COMMIT_INTERVAL_SECONDS 5: at most 12 a minute) and
      // the catalog's writes in any minute (CATALOG_WRITES_PER_MINUTE 100, under R2's 120).
      const stats = await rules("stats");
      for (const name of tables) {
        const commits = stats.tables[`${w.namespaceRoot}.load.${name}`]?.commits;
        assert.ok(commits, `the rules layer saw no commit to ${name}: ${JSON.stringify(Object.keys(stats.tables))}`);
        assert.ok(commits.admitted.maxInAnyWindow <= 12, `${name}: ${commits.admitted.maxInAnyWindow} commits in one minute`);
      }
      const writes = Object.values(stats.catalogs).map((c) => c.admitted["writes-per-catalog"]?.maxInAnyWindow ?? 0);
      assert.ok(Math.max(...writes) < 120, `catalog writes in one minute: ${writes}`);
      assert.deepEqual(stats.rejected, {}, "no 429 at all");
      const batches = w.batches();
      const commits = Object.values(stats.tables).reduce((a, t) => a + t.commits.committed.total, 0);
      process.stderr.write(`# sustained load: 2000 files in ${batches.length} batches, ${commits} commits\n`);
    });
  });

  test("a table committer killed mid-commit, its storage lost, and a commit whose answer was lost: rows once", { timeout: 600_000 }, async (t) => {
    const persistDir = mkdtempSync(path.join(os.tmpdir(), "icepipe-mf-kill-"));
    const namespaceRoot = `kill_${Date.now().toString(36)}`;
    const ident = `${namespaceRoot}.app.orders`;
    const first = await files("kill-first", 10, 100, 0);
    const later = await files("kill-later", 10, 100, 100_000);
    const items = (fs, tag) => fs.map((f, i) => ({ key: rawKey("app", "orders", `${tag}-${i}`), body: { file: f.out } }));
    const firstItems = items(first, "first");
    const laterItems = items(later, "later");
    const sent = []; // the notifications of the commit that was cut off
    try {
      // 1. The commit of the first files is held at the catalog (it reaches SeaweedFS after 8 s)
      //    while the whole runtime, coordinator included, goes away.
      await withWorker(t, { persistDir, namespaceRoot }, async (w, n) => {
        await n.putRawMany(firstItems.slice(0, 1)); // creates the table
        await waitAcked(w, 1);
        await injectFault({ kind: "delay", table: ident, ms: 8_000 });
        sent.push(...(await n.putRawMany(firstItems.slice(1))));
        await waitFor(async () => (await rules("stats")).inFlight.some((k) => k.endsWith(`|${ident}`)), { timeoutMs: 120_000, what: `a commit to ${ident} in flight` });
      });
      // 2. A new runtime on the same storage: the queue redelivers; the coordinator finds its
      //    attempt applied (or not) through the ledger. The next commit's answer is lost.
      await injectFault({ kind: "lose-answer", table: ident, as: "reset" });
      await withWorker(t, { persistDir, namespaceRoot }, async (w, n) => {
        await n.send(sent);
        await n.putRawMany(laterItems.slice(0, 5));
        await waitRows(ident, 1500, 300_000);
        await waitAcked(w, 9 + 5, 120_000);
        assertChecked(await checkTable(ident, { expect: [...first, ...later.slice(0, 5)].map((f) => f.out) }), ident);
      });
      const held = await catalog.tableSummary(ident);
      // 3. Storage lost (a fresh runtime: empty Durable Objects, queue and bucket): every file
      //    stored and delivered again, five of them new: the table's ledger keeps the rows once.
      await withWorker(t, { namespaceRoot }, async (w, n) => {
        await n.putRawMany([...firstItems, ...laterItems]);
        await waitAcked(w, 20, 300_000);
      });
      const s = await catalog.tableSummary(ident);
      assert.equal(s.totalRecords, 2000, "every row once");
      assert.ok(s.snapshotCount > held.snapshotCount, "the last five files were committed");
      assertChecked(await checkTable(ident, { expect: [...first, ...later].map((f) => f.out) }), ident);
      const table = (await rules("stats")).tables[ident];
      assert.ok(table.faults["lose-answer"] >= 1 && table.faults.delay >= 1, `both faults fired: ${JSON.stringify(table)}`);
    } finally {
      rmSync(persistDir, { recursive: true, force: true });
    }
  });

  test("a raw file converted in slices of row groups across invocations: one snapshot, readers agree; a redelivered slice and the whole object again add nothing; a commit failing once is retried; a slice failing for good fails the object with an error record", { timeout: 600_000 }, async (t) => {
    // Four row groups of 10,000 rows; a budget of a bit more than one row group: four slices.
    const [good, bad] = await genParquet([
      { out: path.join(dir("sliced"), "good.parquet"), rows: 40_000, id_start: 0, seed: 1, row_group_rows: 10_000 },
      { out: path.join(dir("sliced"), "bad.parquet"), rows: 40_000, id_start: 100_000, seed: 2, row_group_rows: 10_000 },
    ]);
    // The bad file: its third row group's pages overwritten with garbage (its footer stays valid).
    const corrupt = await run(PYTHON, ["-c", CORRUPT_ROW_GROUP, bad.out, "2"]);
    assert.equal(corrupt.code, 0, corrupt.stderr);
    const budget = Math.ceil(good.bytes / 3.5);
    await withWorker(t, { bindings: { CONVERT_BUDGET_BYTES: String(budget) } }, async (w, n) => {
      const ident = `${w.namespaceRoot}.big.events`;
      // The sliced object's commit is answered 503 once (not applied): the coordinator tries again.
      await injectFault({ kind: "fail", table: ident, count: 1, status: 503 });
      const [note] = await n.putRawMany([{ key: rawKey("big", "events", "sliced"), body: { file: good.out } }]);
      await waitRows(ident, 40_000, 300_000);
      await waitAcked(w, 4); // the notification and the three continuations it handed on
      const once = await catalog.tableSummary(ident);
      assert.equal(once.snapshotCount, 1, "all slices in one snapshot");
      assertChecked(await checkTable(ident, { expect: [good.out] }), ident);
      assert.equal((await rules("stats")).tables[ident].faults.fail, 1, "the failing commit was tried");

      // A slice delivered again, and the whole object again: nothing added.
      await n.send([{ ...note, icepipeSlice: { index: 2, count: 4, rowGroups: [2, 3] } }, note]);
      await waitAcked(w, 6);
      const again = await catalog.tableSummary(ident);
      assert.deepEqual([again.snapshotCount, again.totalRecords], [1, 40_000]);

      // A slice that cannot be read: the object fails whole, with an error record; none of its rows land.
      await n.putRawMany([{ key: rawKey("big", "events", "corrupt"), body: { file: bad.out } }]);
      await waitFor(async () => (await errorRecords(n)).length === 1, { timeoutMs: 300_000, what: "the error record of the corrupt object", failIf: hopeless });
      const [record] = await errorRecords(n);
      assert.match(JSON.stringify(record.record), /corrupt\.parquet/);
      await waitFor(() => sumField(w.batches(), "acked") >= 10, { timeoutMs: 120_000, what: "the corrupt object's messages acknowledged", failIf: hopeless });
      const after = await catalog.tableSummary(ident);
      assert.deepEqual([after.snapshotCount, after.totalRecords], [1, 40_000], "nothing of the failed object committed");
      assertChecked(await checkTable(ident, { expect: [good.out] }), ident);
    });
  });

  test(`a raw file far larger than 128 MB (${LARGE_ROWS} rows) converts inside workerd under 128 MiB of wasm memory`, { timeout: 900_000 }, async (t) => {
    const big = path.join(work, "large.parquet");
    await generateLarge(big, LARGE_ROWS);
    const size = statSync(big).size;
    await withWorker(t, { queue: { maxRetries: 2 } }, async (w, n) => {
      const key = rawKey("bench", "large", "load-0");
      const started = Date.now();
      await n.putRaw(key, { file: big });
      const ident = `${w.namespaceRoot}.bench.large`;
      const s = await waitRows(ident, LARGE_ROWS, 840_000);
      const took = Date.now() - started;
      assert.equal(s.totalRecords, LARGE_ROWS);
      // The coordinator commits before the consumer's batch line (it logs once the commit answers).
      await waitAcked(w, 1, 60_000);
      const b = w.batches().find((x) => count(x.acked) >= 1);
      assert.ok(b, "no batch line acknowledged the large file");
      const health = await (await w.fetch("/health")).json();
      const peak = Math.max(b.wasm_memory_bytes ?? 0, health.wasm_memory_bytes ?? 0);
      process.stderr.write(
        `# large file: ${(size / MiB).toFixed(1)} MiB raw, ${LARGE_ROWS} rows, converted in ${(took / 1000).toFixed(1)} s; ` +
          `wasm memory high-water ${(peak / MiB).toFixed(1)} MiB; batch line: ${JSON.stringify(b)}\n`,
      );
      assert.ok(size > 128 * MiB * 3, `the raw file is only ${size} bytes`);
      assert.ok(b.wasm_memory_bytes > 0, `wasm_memory_bytes missing from the batch line: ${JSON.stringify(b)}`);
      assert.ok(peak < 128 * MiB, `wasm memory high-water ${peak} bytes is not under 128 MiB`);
      const checked = await checkTable(ident, { countOnly: true, expectRows: LARGE_ROWS });
      assertChecked(checked, ident);
    });
  });
});
