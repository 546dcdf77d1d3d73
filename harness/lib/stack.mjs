// The local SeaweedFS stack (Iceberg REST catalog + S3) as seen from the harness: its settings from
// .icepipe/stack.env (written by `scripts/stack start`), stop/start through scripts/stack for the
// outage test, and a small Iceberg REST client used to poll tables (the Python checker does the
// independent reading).
import { spawn } from "node:child_process";
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { addTimeoutContext, boundedFetch, within } from "./bounded.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const STATE_DIR = path.join(ROOT, ".icepipe");
export const STACK_ENV_FILE = path.join(STATE_DIR, "stack.env");
export const STACK_SCRIPT = path.join(ROOT, "scripts", "stack");
export const PYTHON = path.join(STATE_DIR, "venv", "bin", "python");
export const STACK_LOG = path.join(STATE_DIR, "stack", "weed.log");

/**
 * Why the stack cannot store data, read from its log, or null. SeaweedFS marks every volume
 * read-only when its disk has less than 1% free; S3 writes then fail with a bare HTTP 500, and a
 * test would otherwise wait out its whole timeout on retries that cannot succeed.
 */
export function stackStorageProblem() {
  let log;
  try {
    log = readFileSync(STACK_LOG, "utf8");
  } catch {
    return null;
  }
  if (!log.includes("No writable volumes")) return null;
  return `SeaweedFS has no writable volumes (see ${STACK_LOG}): the disk under ${STATE_DIR} is nearly full (weed turns volumes read-only below 1% free); free some space and rerun`;
}

/** `export K=V` lines of a shell env file (values unquoted as the shell would for simple quoting). */
export function parseEnvFile(file) {
  const out = {};
  if (!existsSync(file)) return out;
  for (let line of readFileSync(file, "utf8").split("\n")) {
    line = line.trim();
    if (!line || line.startsWith("#")) continue;
    if (line.startsWith("export ")) line = line.slice("export ".length);
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if ((value.startsWith("'") && value.endsWith("'")) || (value.startsWith('"') && value.endsWith('"'))) {
      value = value.slice(1, -1);
    }
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}

/**
 * The stack's settings: the process environment wins, .icepipe/stack.env fills the gaps (as in
 * tests/e2e/conftest.py). Throws, naming what is missing, when the stack was never started.
 */
export function stackSettings() {
  const file = parseEnvFile(STACK_ENV_FILE);
  const get = (k) => process.env[k] ?? file[k];
  const required = ["ICEPIPE_CATALOG_URI", "ICEPIPE_WAREHOUSE", "ICEPIPE_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
  const missing = required.filter((k) => !get(k));
  if (!get("ICEPIPE_CATALOG_TOKEN") && !get("ICEPIPE_CATALOG_CREDENTIAL")) missing.push("ICEPIPE_CATALOG_TOKEN or ICEPIPE_CATALOG_CREDENTIAL");
  if (missing.length) {
    throw new Error(
      `stack settings missing: ${missing.join(", ")} (neither in the environment nor in ${STACK_ENV_FILE}); run scripts/stack start`,
    );
  }
  const env = { ...file };
  for (const k of Object.keys(file)) if (process.env[k] !== undefined) env[k] = process.env[k];
  return {
    catalogUri: get("ICEPIPE_CATALOG_URI").replace(/\/+$/, ""),
    warehouse: get("ICEPIPE_WAREHOUSE"),
    // The static token (R2's way, the rules layer's) wins over OAuth client credentials, as in icepipe.
    token: get("ICEPIPE_CATALOG_TOKEN") || null,
    credential: get("ICEPIPE_CATALOG_CREDENTIAL") || null,
    s3Endpoint: get("ICEPIPE_S3_ENDPOINT").replace(/\/+$/, ""),
    accessKeyId: get("AWS_ACCESS_KEY_ID"),
    secretAccessKey: get("AWS_SECRET_ACCESS_KEY"),
    region: get("AWS_REGION") ?? "us-east-1",
    rawBucket: get("ICEPIPE_RAW_BUCKET") ?? "raw",
    // Everything a child process (Python checker, icepipe CLI) needs to reach the stack.
    env,
  };
}

// Process groups of the children run() started and has not seen exit: killed when this process
// exits, so a test file that ends (or is stopped) leaves none behind.
const liveChildren = new Set();
process.on("exit", () => {
  for (const pid of liveChildren) killGroup(pid);
});

function killGroup(pid) {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Runs a command; resolves with {code, signal, stdout, stderr} whatever its exit code. Rejects with
 * a WaitTimeout naming `what` (default: the command line) when it has not finished within
 * `timeoutMs`; its whole process group is then killed, so a grandchild holding the pipes cannot
 * keep the wait open.
 */
export function run(cmd, args, { env, cwd = ROOT, input, timeoutMs = 600_000, what, report } = {}) {
  const step = what ?? `\`${[path.relative(ROOT, cmd) || cmd, ...args].join(" ")}\``;
  return within(timeoutMs, step, (signal) => new Promise((resolve, reject) => {
    // detached: its own process group, so a timeout can kill everything it started.
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    if (child.pid) liveChildren.add(child.pid);
    const kill = () => killGroup(child.pid);
    signal.addEventListener("abort", kill, { once: true });
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.on("error", () => {}); // a child that exits without reading its input
    child.on("error", (e) => {
      liveChildren.delete(child.pid);
      signal.removeEventListener("abort", kill);
      reject(e);
    });
    child.on("exit", () => liveChildren.delete(child.pid));
    child.on("close", (code, sig) => {
      signal.removeEventListener("abort", kill);
      resolve({ code: code ?? (sig ? 128 : 1), signal: sig, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  }), { report });
}

async function stackCommand(args, { timeoutMs = 120_000, what, report } = {}) {
  const r = await run(STACK_SCRIPT, args, { timeoutMs, what: what ?? `\`scripts/stack ${args.join(" ")}\``, report });
  if (r.code !== 0 && !(args[0] === "status" && r.code === 3)) {
    throw new Error(`scripts/stack ${args.join(" ")} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  }
  return r;
}

/** True when our stack runs and its catalog answers. */
export async function stackRunning() {
  return (await stackCommand(["status"])).code === 0;
}

/** Stops the stack (SIGTERM, waits for the process); its data stays. */
export async function stopStack() {
  await stackCommand(["stop"], { what: "`scripts/stack stop` (the stack to stop)" });
}

/** Starts the stack on its existing data (never --fresh: the outage test must find its tables again). */
export async function startStack() {
  await stackCommand(["start"], { what: "`scripts/stack start` (the stack to start on its data and answer)" });
}

/** The last `n` lines of a text file (read from its end: weed.log grows large), or why not. */
export function tailFile(file, n = 20) {
  let fd;
  try {
    fd = openSync(file, "r");
    const size = fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    return buf.toString("utf8").trimEnd().split("\n").slice(-n).join("\n");
  } catch (e) {
    return `(cannot read ${file}: ${e.message})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** `scripts/stack status` and the last lines of the stack's log: the stack's state for a report. */
export async function stackState() {
  let status;
  try {
    const r = await stackCommand(["status"], { timeoutMs: 10_000, report: false });
    status = `${r.stdout}${r.stderr}`.trimEnd();
  } catch (e) {
    status = `scripts/stack status: ${e.message.split("\n")[0]}`;
  }
  return `${status}\nlast lines of ${STACK_LOG}:\n${tailFile(STACK_LOG, 20)}`;
}

// Every timeout report of a process that uses the stack says what state the stack is in.
addTimeoutContext("local stack (scripts/stack status, weed.log)", stackState);

// --------------------------------------------------------------------------------------------------
// Minimal Iceberg REST client (enough to poll tables; readers live in harness/check_table.py)

/** The REST path of a table (`ns1.ns2.name`: the namespace levels joined by the unit separator). */
function tablePath(ident) {
  const parts = ident.split(".");
  const name = parts.pop();
  return `/namespaces/${encodeURIComponent(parts.join("\x1f"))}/tables/${encodeURIComponent(name)}`;
}

export class Catalog {
  constructor(settings = stackSettings()) {
    this.s = settings;
    this.token = null;
    this.prefix = null;
  }

  async #getToken() {
    if (this.s.token) {
      this.token = this.s.token;
      return;
    }
    const [id, secret] = this.s.credential.split(/:(.*)/s);
    const body = new URLSearchParams({ grant_type: "client_credentials", client_id: id, client_secret: secret, scope: "PRINCIPAL_ROLE:ALL" });
    const r = await boundedFetch(`${this.s.catalogUri}/v1/oauth/tokens`, { method: "POST", body }, { timeoutMs: 15_000, what: "a catalog token (POST /v1/oauth/tokens)" });
    if (!r.ok) throw new Error(`catalog token: HTTP ${r.status} ${await r.text()}`);
    this.token = (await r.json()).access_token;
  }

  async #request(pathname, { retryAuth = true, method = "GET", json } = {}) {
    if (!this.token) await this.#getToken();
    if (this.prefix === null) {
      const r = await boundedFetch(
        `${this.s.catalogUri}/v1/config?warehouse=${encodeURIComponent(this.s.warehouse)}`,
        { headers: { authorization: `Bearer ${this.token}` } },
        { timeoutMs: 15_000, what: "the catalog's config (GET /v1/config)" },
      );
      if (!r.ok) throw new Error(`catalog config: HTTP ${r.status} ${await r.text()}`);
      const cfg = await r.json();
      this.prefix = cfg.overrides?.prefix ?? cfg.defaults?.prefix ?? "";
    }
    const base = this.prefix ? `${this.s.catalogUri}/v1/${encodeURIComponent(this.prefix)}` : `${this.s.catalogUri}/v1`;
    const headers = { authorization: `Bearer ${this.token}` };
    if (json !== undefined) headers["content-type"] = "application/json";
    const init = { method, headers, body: json === undefined ? undefined : JSON.stringify(json) };
    const r = await boundedFetch(base + pathname, init, { timeoutMs: 15_000, what: `the catalog (${method} ${pathname})` });
    if (r.status === 401 && retryAuth && !this.s.token) {
      this.token = null;
      return this.#request(pathname, { retryAuth: false, method, json });
    }
    return r;
  }

  /** Table metadata (the `metadata` object of LoadTableResult) plus its location, or null when it does not exist. */
  async loadTable(ident) {
    const r = await this.#request(tablePath(ident));
    if (r.status === 404) return null;
    if (!r.ok) throw new Error(`load ${ident}: HTTP ${r.status} ${await r.text()}`);
    // Snapshot ids are 64-bit: keep them as strings (a JS number would round them).
    const text = (await r.text()).replace(/("(?:current-snapshot-id|snapshot-id|parent-snapshot-id)"\s*:\s*)(-?\d+)/g, '$1"$2"');
    const j = JSON.parse(text);
    return { ...j.metadata, metadataLocation: j["metadata-location"] };
  }

  /** Sets table properties (an updateTable with one set-properties update, no requirement). */
  async setProperties(ident, properties) {
    const json = { requirements: [], updates: [{ action: "set-properties", updates: properties }] };
    const r = await this.#request(tablePath(ident), { method: "POST", json });
    if (!r.ok) throw new Error(`set properties of ${ident}: HTTP ${r.status} ${await r.text()}`);
  }

  /** Summary of a table: snapshots (in order), current snapshot's total-records, or null when missing. */
  async tableSummary(ident) {
    const m = await this.loadTable(ident);
    if (!m) return null;
    const snapshots = m.snapshots ?? [];
    const current = snapshots.find((s) => s["snapshot-id"] === m["current-snapshot-id"]) ?? null;
    return {
      ident,
      metadataLocation: m.metadataLocation,
      snapshotCount: snapshots.length,
      currentSnapshotId: m["current-snapshot-id"] ?? null,
      totalRecords: current ? Number(current.summary?.["total-records"] ?? 0) : 0,
      totalDataFiles: current ? Number(current.summary?.["total-data-files"] ?? 0) : 0,
      snapshots,
    };
  }
}
