// What one deployment (top level or a wrangler environment) consists of, read from
// wrangler.convert.toml and wrangler.ingest.toml through wrangler's own config reader, so the
// environment rules (what [env.X] inherits and what it must repeat) are wrangler's.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** Deploy order: the consumer before the producer, so nothing lands before it is converted. */
export const STAGES = ["convert", "ingest"];
/** R2 event notification rule of DESIGN.md. */
export const RULE = Object.freeze({ prefix: "sources/", suffix: ".parquet", eventType: "object-create" });
export const CREATE_ACTIONS = ["PutObject", "CompleteMultipartUpload", "CopyObject"];

const require = createRequire(path.join(ROOT, "package.json"));

export class DeploymentError extends Error {}

/** Where wrangler.<stage>.toml live (ICEPIPE_CONFIG_DIR; default the repository). */
export function configDir() {
  return path.resolve(process.env.ICEPIPE_CONFIG_DIR ?? ROOT);
}

export function configPath(stage) {
  return path.join(configDir(), `wrangler.${stage}.toml`);
}

/** Local state of the deploy scripts (a generated ADMIN_TOKEN per environment). */
export function stateDir(env) {
  const base = process.env.ICEPIPE_DEPLOY_STATE_DIR ?? path.join(ROOT, ".icepipe", "deploy");
  return path.join(base, env ?? "default");
}

/** The environments a wrangler file declares. */
export function declaredEnvironments(stage) {
  const raw = parseToml(readFileSync(configPath(stage), "utf8"));
  return Object.keys(raw.env ?? {});
}

/** wrangler's resolved config of `stage` for `env` (undefined: the top level). */
export function readStage(stage, env) {
  const file = configPath(stage);
  if (!existsSync(file)) throw new DeploymentError(`${file} is missing`);
  if (env !== undefined && !declaredEnvironments(stage).includes(env)) {
    throw new DeploymentError(
      `${path.basename(file)} has no [env.${env}] (environments: ${declaredEnvironments(stage).join(", ") || "none"})`,
    );
  }
  const { unstable_readConfig } = require("wrangler");
  return unstable_readConfig({ config: file, env }, { hideWarnings: true });
}

/**
 * The secrets a Worker reads (crates/convert/src/config.rs, crates/ingest/src/config.rs): the
 * convert Worker's catalog token and admin token (plus the S3 keys when it writes through S3);
 * the ingest Worker's admin token plus whatever the sources' `auth = { secret = "NAME" }` name.
 */
export function convertSecrets(vars) {
  const names = ["ADMIN_TOKEN", "CATALOG_TOKEN"];
  if ((vars.TABLE_STORAGE ?? "r2") === "s3") names.push("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY");
  return names;
}

export function sourcesFile() {
  return path.resolve(process.env.ICEPIPE_SOURCES ?? path.join(ROOT, "config", "sources.toml"));
}

/** Secret names the sources file's `auth` entries name (the ingest Worker reads only those). */
export function sourceSecrets(file = sourcesFile()) {
  const config = parseToml(readFileSync(file, "utf8"));
  const names = new Set();
  for (const source of Object.values(config.sources ?? {})) {
    if (source.auth?.secret) names.add(source.auth.secret);
    for (const resource of Object.values(source.resources ?? {})) {
      if (resource.auth?.secret) names.add(resource.auth.secret);
    }
  }
  return [...names].sort();
}

function binding(list, name, what, file) {
  const b = (list ?? []).find((x) => x.binding === name);
  if (!b) throw new DeploymentError(`${file}: no ${what} binding ${name}`);
  return b;
}

/**
 * The deployment of `env`: Worker names, buckets, queues, vars and secrets of both stages, checked
 * for consistency (both Workers share the raw bucket; the convert Worker consumes the queue it
 * replays into, with a dead-letter queue).
 */
export function readDeployment(env) {
  const convert = readStage("convert", env);
  const ingest = readStage("ingest", env);
  const cfile = path.basename(configPath("convert"));
  const ifile = path.basename(configPath("ingest"));
  const where = (file) => (env ? `${file} [env.${env}]` : file);

  const raw = binding(convert.r2_buckets, "RAW", "R2", where(cfile)).bucket_name;
  const catalog = binding(convert.r2_buckets, "CATALOG", "R2", where(cfile)).bucket_name;
  const ingestRaw = binding(ingest.r2_buckets, "RAW", "R2", where(ifile)).bucket_name;
  if (ingestRaw !== raw) {
    throw new DeploymentError(`${where(ifile)} writes to bucket ${ingestRaw} but ${where(cfile)} converts from ${raw}: use one raw bucket`);
  }
  const consumers = convert.queues?.consumers ?? [];
  if (consumers.length !== 1) throw new DeploymentError(`${where(cfile)}: expected one [[queues.consumers]], found ${consumers.length}`);
  const consumer = consumers[0];
  if (!consumer.dead_letter_queue) throw new DeploymentError(`${where(cfile)}: the queue consumer has no dead_letter_queue`);
  const producer = (convert.queues?.producers ?? []).find((p) => p.binding === "RAW_EVENTS");
  if (producer && producer.queue !== consumer.queue) {
    throw new DeploymentError(`${where(cfile)}: RAW_EVENTS sends to ${producer.queue} but the consumer reads ${consumer.queue}`);
  }
  if (convert.vars?.CATALOG_BUCKET && convert.vars.CATALOG_BUCKET !== catalog) {
    throw new DeploymentError(`${where(cfile)}: CATALOG_BUCKET = ${convert.vars.CATALOG_BUCKET} but the CATALOG binding is ${catalog}`);
  }
  return {
    env,
    label: env ?? "top level",
    rawBucket: raw,
    catalogBucket: catalog,
    queue: consumer.queue,
    deadLetterQueue: consumer.dead_letter_queue,
    consumer,
    accountId: convert.account_id ?? ingest.account_id,
    stages: {
      convert: { stage: "convert", name: convert.name, file: configPath("convert"), vars: convert.vars ?? {}, secrets: convertSecrets(convert.vars ?? {}), config: convert },
      ingest: {
        stage: "ingest",
        name: ingest.name,
        file: configPath("ingest"),
        vars: ingest.vars ?? {},
        secrets: ["ADMIN_TOKEN", ...sourceSecrets().filter((n) => n !== "ADMIN_TOKEN")],
        config: ingest,
      },
    },
  };
}

/** The catalog URI and warehouse R2 Data Catalog gives a bucket (as `wrangler r2 bucket catalog enable` prints them). */
export function catalogVars(accountId, catalogBucket, host = catalogHost()) {
  return {
    CATALOG_URI: `${host}/${accountId}/${catalogBucket}`,
    WAREHOUSE: `${accountId}_${catalogBucket}`,
    ACCOUNT_ID: accountId,
  };
}

/** R2 Data Catalog's REST host (ICEPIPE_CATALOG_HOST: another one, e.g. a local stand-in). */
export function catalogHost() {
  return (process.env.ICEPIPE_CATALOG_HOST ?? "https://catalog.cloudflarestorage.com").replace(/\/+$/, "");
}
