// scripts/stack with and without the rules layer: r2 mode puts the layer (static token, plain-text
// 401, /_rules/) on the advertised catalog URI; plain mode puts SeaweedFS there; stop never leaves
// the layer running; start brings back a layer that died. Restarts the running stack (on its data)
// and leaves it in the mode it found it in.
//
// Needs the stack (scripts/stack start). Run: node --test stack/r2-rules/test/*.test.mjs
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { parseEnvFile, run, STACK_ENV_FILE, STACK_SCRIPT, STATE_DIR, stackRunning } from "../../../harness/lib/stack.mjs";

const RULES_PID_FILE = path.join(STATE_DIR, "stack", "r2-rules.pid");
const WEED_PID_FILE = path.join(STATE_DIR, "stack", "weed.pid");
let originalMode;

async function stack(args, mode) {
  const r = await run(STACK_SCRIPT, args, { env: mode ? { ICEPIPE_STACK_CATALOG: mode } : {}, timeoutMs: 120_000 });
  return { ...r, out: r.stdout + r.stderr };
}

async function startIn(mode) {
  const stop = await stack(["stop"]);
  assert.equal(stop.code, 0, stop.out);
  const start = await stack(["start"], mode);
  assert.equal(start.code, 0, start.out);
  return parseEnvFile(STACK_ENV_FILE);
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const pidIn = (file) => Number(readFileSync(file, "utf8").trim());
const get = (url, headers = {}) => fetch(url, { headers, signal: AbortSignal.timeout(10_000) });

before(async () => {
  assert.ok(await stackRunning(), "the local stack is not running: run scripts/stack start");
  originalMode = parseEnvFile(STACK_ENV_FILE).ICEPIPE_STACK_CATALOG ?? "r2";
});

after(async () => {
  // Whatever happened, leave the stack running as it was found.
  await stack(["stop"]);
  const r = await stack(["start"], originalMode);
  assert.equal(r.code, 0, r.out);
});

test("r2 mode: the catalog URI is the rules layer; token required, 401 in plain text; status shows both", async () => {
  const env = await startIn("r2");
  assert.equal(env.ICEPIPE_STACK_CATALOG, "r2");
  assert.ok(env.ICEPIPE_CATALOG_TOKEN, "stack.env carries the static token");
  const config = `${env.ICEPIPE_CATALOG_URI}/v1/config?warehouse=${encodeURIComponent(env.ICEPIPE_WAREHOUSE)}`;
  const anonymous = await get(config);
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.headers.get("content-type"), /^text\/plain/);
  assert.equal((await get(config, { authorization: `Bearer ${env.ICEPIPE_CATALOG_TOKEN}` })).status, 200);
  assert.equal((await get(`${env.ICEPIPE_CATALOG_URI}/_rules/health`)).status, 200);
  const status = await stack(["status"]);
  assert.equal(status.code, 0, status.out);
  assert.match(status.out, /rules layer: +running/);
});

test("stop stops the rules layer with SeaweedFS; start brings back a rules layer that died", async () => {
  await startIn("r2");
  const rulesPid = pidIn(RULES_PID_FILE);
  const weedPid = pidIn(WEED_PID_FILE);
  process.kill(rulesPid, "SIGKILL");
  const status = await stack(["status"]);
  assert.equal(status.code, 3, "a stack without its rules layer is not healthy");
  const again = await stack(["start"], "r2");
  assert.equal(again.code, 0, again.out);
  assert.equal(pidIn(WEED_PID_FILE), weedPid, "SeaweedFS kept running");
  const newRulesPid = pidIn(RULES_PID_FILE);
  assert.notEqual(newRulesPid, rulesPid);
  const stop = await stack(["stop"]);
  assert.equal(stop.code, 0, stop.out);
  assert.ok(!alive(newRulesPid), "the rules layer outlived scripts/stack stop");
  assert.ok(!alive(weedPid), "weed outlived scripts/stack stop");
});

test("plain mode: the catalog URI is SeaweedFS's (OAuth, no /_rules/, no static token)", async () => {
  const env = await startIn("plain");
  assert.equal(env.ICEPIPE_STACK_CATALOG, "plain");
  assert.equal(env.ICEPIPE_CATALOG_TOKEN, undefined);
  assert.notEqual((await get(`${env.ICEPIPE_CATALOG_URI}/_rules/health`)).status, 200);
  const [id, secret] = env.ICEPIPE_CATALOG_CREDENTIAL.split(/:(.*)/s);
  const body = new URLSearchParams({ grant_type: "client_credentials", client_id: id, client_secret: secret });
  const token = await fetch(`${env.ICEPIPE_CATALOG_URI}/v1/oauth/tokens`, { method: "POST", body });
  assert.equal(token.status, 200);
  const status = await stack(["status"]);
  assert.equal(status.code, 0, status.out);
  assert.match(status.out, /rules layer: +off/);
  const mismatch = await stack(["start"], "r2");
  assert.notEqual(mismatch.code, 0, "starting r2 over a running plain stack must refuse");
  assert.match(mismatch.out, /runs in mode plain/);
});
