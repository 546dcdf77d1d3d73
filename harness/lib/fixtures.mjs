// Test data and independent checks for the harness: Parquet files from harness/gen_parquet.py or
// `icepipe generate`, tables read back by harness/check_table.py (PyIceberg + DuckDB), raw keys in
// the sources/ layout, and readers of the convert Worker's batch log lines.
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { PYTHON, ROOT, run, stackSettings } from "./stack.mjs";

const TARGET_DIR = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(ROOT, "target");

/** The icepipe CLI: $ICEPIPE_BIN, else target/release/icepipe, else target/debug/icepipe, else null. */
export function icepipeCli() {
  const candidates = [process.env.ICEPIPE_BIN, path.join(TARGET_DIR, "release", "icepipe"), path.join(TARGET_DIR, "debug", "icepipe")];
  return candidates.find((c) => c && existsSync(c)) ?? null;
}

/** `sources/<source>/<resource>/year=YYYY/month=MM/day=DD/<name>.parquet` */
export function rawKey(source, resource, name, day = "2026-04-01") {
  const [y, m, d] = day.split("-");
  return `sources/${source}/${resource}/year=${y}/month=${m}/day=${d}/${name}.parquet`;
}

/** Writes Parquet files: specs = [{out, rows, id_start, seed?}]. Returns [{out, rows, bytes}]. */
export async function genParquet(specs) {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} missing: run scripts/stack start (it creates the venv)`);
  for (const s of specs) mkdirSync(path.dirname(s.out), { recursive: true });
  const r = await run(PYTHON, [path.join(ROOT, "harness", "gen_parquet.py")], { input: JSON.stringify(specs) });
  if (r.code !== 0) throw new Error(`gen_parquet.py failed (exit ${r.code}): ${r.stderr}`);
  return r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** A large raw file from `icepipe generate` (builds the release CLI when no CLI is there). */
export async function generateLarge(out, rows) {
  let cli = icepipeCli();
  if (!cli) {
    const b = await run("nice", ["-n", "10", "cargo", "build", "--release", "-p", "icepipe-cli"], { timeoutMs: 1_800_000 });
    if (b.code !== 0) throw new Error(`cargo build --release -p icepipe-cli failed:\n${b.stderr.slice(-4000)}`);
    cli = icepipeCli();
  }
  const r = await run(cli, ["generate", "--rows", String(rows), "--out", out], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`icepipe generate failed (exit ${r.code}): ${r.stderr}`);
}

/**
 * Reads `table` with PyIceberg and DuckDB (harness/check_table.py). `expect`: local Parquet files whose
 * rows the table must hold exactly; `countOnly` + `expectRows` for big tables. Returns the checker's JSON
 * ({ok, problems, rows, snapshots, ...}); never throws on a mismatch (the caller asserts).
 */
export async function checkTable(table, { expect = [], countOnly = false, expectRows } = {}) {
  const args = [table];
  if (expect.length) args.push("--expect", ...expect);
  if (countOnly) args.push("--count-only");
  if (expectRows !== undefined) args.push("--expect-rows", String(expectRows));
  return runChecker("check_table.py", args);
}

/**
 * Runs harness/check_ingest.py: the tables under `root` hold exactly the records the sample API
 * at `apiUrl` serves (PyIceberg and DuckDB). Returns its JSON ({ok, problems, tables}).
 */
export async function checkIngest(apiUrl, root, { resources } = {}) {
  const args = ["--api", apiUrl, "--root", root];
  if (resources) args.push("--resources", resources.join(","));
  return runChecker("check_ingest.py", args);
}

/**
 * Reads `columns` of `table` with PyIceberg, DuckDB and polars (harness/read_rows.py), rows ordered
 * by `key`. Returns {readers: {pyiceberg: rows, duckdb: rows, polars: rows}} or {ok: false, problems}.
 */
export async function readRows(table, columns, { key = "id" } = {}) {
  return runChecker("read_rows.py", [table, "--columns", columns.join(","), "--key", key]);
}

/** A harness/*.py checker printing one JSON object last; exit 0 ok, 1 not ok, 2+ broken. */
async function runChecker(script, args) {
  const r = await run(PYTHON, [path.join(ROOT, "harness", script), ...args], { env: stackSettings().env, timeoutMs: 600_000 });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  try {
    const j = JSON.parse(last);
    if (r.code > 1) j.problems = [...(j.problems ?? []), `${script} exit ${r.code}: ${r.stderr.slice(-2000)}`];
    return j;
  } catch {
    return { ok: false, problems: [`${script} exit ${r.code}, no JSON output; stderr:\n${r.stderr.slice(-4000)}`] };
  }
}

/** A count from a batch log field that may be a number or a list (e.g. `errors`). */
export function count(v) {
  if (Array.isArray(v)) return v.length;
  if (typeof v === "number") return v;
  if (v && typeof v === "object") return Object.keys(v).length;
  return 0;
}

/** Sum of `field` over batch log records. */
export function sumField(batches, field) {
  return batches.reduce((n, b) => n + count(b[field]), 0);
}
