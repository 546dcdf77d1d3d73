// The rules layer's configuration from the environment (scripts/stack passes it on). Every limit
// defaults to R2 Data Catalog's documented value; overriding one is for tests of the layer and for
// measurements, never for pretending R2 is more permissive than it is.
import { DEFAULTS } from "./server.mjs";

/** The knobs: environment variable -> [config path, parser, description]. README.md lists them too. */
export const KNOBS = {
  ICEPIPE_STACK_R2_WINDOW_SECONDS: ["limits.windowMs", seconds, "rate-limit window (60)"],
  ICEPIPE_STACK_R2_UPDATE_TABLE_PER_TABLE: ["limits.updateTablePerTable", limit, "updateTable per table per window (20)"],
  ICEPIPE_STACK_R2_WRITES_PER_CATALOG: ["limits.writesPerCatalog", limit, "all writes per catalog per window (120)"],
  ICEPIPE_STACK_R2_CREATES_PER_CATALOG: ["limits.createsPerCatalog", limit, "createTable/registerTable/commitTransaction/createView per catalog per window (10)"],
  ICEPIPE_STACK_R2_NAMESPACE_OPS_PER_CATALOG: ["limits.namespaceOpsPerCatalog", limit, "createNamespace/dropNamespace/dropTable/renameTable/dropView/renameView per catalog per window (20)"],
  ICEPIPE_STACK_R2_COUNT_REJECTED: ["countRejected", flag, "rejected requests count in the windows too (off)"],
  ICEPIPE_STACK_R2_COMMIT_LATENCY_MS: ["commitLatencyMs", millis, "emulated commit latency, ms (250)"],
  ICEPIPE_STACK_R2_CONCURRENT_UPDATE_ERROR: ["concurrentUpdateError", flag, "overlapping commits to a table: the later one gets 400 ConcurrentUpdateError (on)"],
  ICEPIPE_STACK_R2_REQUEST_TIMEOUT_SECONDS: ["requestTimeoutMs", seconds, "request timeout (40)"],
  ICEPIPE_STACK_R2_OAUTH: ["oauth", flag, "serve POST /v1/oauth/tokens, which R2 does not have (on)"],
};

function seconds(v) {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`must be a positive number of seconds, not ${JSON.stringify(v)}`);
  return Math.round(n * 1000);
}

function millis(v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`must be a whole number of milliseconds >= 0, not ${JSON.stringify(v)}`);
  return n;
}

/** A positive whole number, or "off" (null: the rule does not apply). */
function limit(v) {
  if (v === "off") return null;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`must be a whole number >= 1 or "off", not ${JSON.stringify(v)}`);
  return n;
}

function flag(v) {
  if (["1", "on", "true", "yes"].includes(v)) return true;
  if (["0", "off", "false", "no"].includes(v)) return false;
  throw new Error(`must be on or off, not ${JSON.stringify(v)}`);
}

function required(env, name) {
  const v = env[name];
  if (!v) throw new Error(`${name} is not set (scripts/stack sets it)`);
  return v;
}

/** The configuration createRulesServer takes, from `env`; throws naming the variable at fault. */
export function configFromEnv(env = process.env) {
  const config = {
    port: Number(required(env, "ICEPIPE_STACK_R2_PORT")),
    upstream: required(env, "ICEPIPE_STACK_R2_UPSTREAM"),
    clientId: required(env, "ICEPIPE_STACK_KEY"),
    clientSecret: required(env, "ICEPIPE_STACK_SECRET"),
    token: required(env, "ICEPIPE_STACK_TOKEN"),
    readOnlyToken: env.ICEPIPE_STACK_R2_READ_ONLY_TOKEN || null,
    s3: env.ICEPIPE_STACK_R2_S3_ENDPOINT
      ? { endpoint: env.ICEPIPE_STACK_R2_S3_ENDPOINT, region: "us-east-1", accessKeyId: env.ICEPIPE_STACK_KEY, secretAccessKey: env.ICEPIPE_STACK_SECRET }
      : null,
    ...DEFAULTS,
    limits: { ...DEFAULTS.limits },
  };
  for (const [name, [path, parse]] of Object.entries(KNOBS)) {
    if (env[name] === undefined || env[name] === "") continue;
    let value;
    try {
      value = parse(env[name]);
    } catch (e) {
      throw new Error(`${name} ${e.message}`);
    }
    const [head, tail] = path.split(".");
    if (tail) config[head][tail] = value;
    else config[head] = value;
  }
  return config;
}
