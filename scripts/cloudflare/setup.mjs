// scripts/setup [--env ENV]: creates what a deployment needs and is missing, idempotently.
// Reads the state through the API, changes it through wrangler (printed as it runs); a second run
// finds everything in place, changes nothing and says so.
import path from "node:path";
import { CloudflareApi, hasRawRule, wranglerOk } from "./cloudflare.mjs";
import { catalogVars, CREATE_ACTIONS, readDeployment, RULE } from "./deployment.mjs";
import { parseArgs, run } from "./cli.mjs";
import { savedAdminToken, SecretValues } from "./secrets.mjs";
import { setVars } from "./toml_vars.mjs";

const USAGE = `scripts/setup [--env ENV] [--rotate NAME]... [--no-compaction]

Creates what the deployment of ENV (a wrangler environment of wrangler.convert.toml and
wrangler.ingest.toml; none: the top level) needs and is missing: the raw and catalog R2 buckets,
R2 Data Catalog on the catalog bucket, the queue and its dead-letter queue, the raw bucket's
notification rule (object-create, sources/ ... .parquet -> the queue), catalog compaction, the
Workers' secrets; and writes CATALOG_URI, WAREHOUSE and ACCOUNT_ID into the environment's [vars]
in wrangler.convert.toml. Durable Object migrations are applied by scripts/deploy.

Secrets are taken from the environment variable of the same name (CATALOG_TOKEN, ADMIN_TOKEN, the
sources' secrets) or asked for at the terminal; ADMIN_TOKEN is generated when neither gives one.
A secret already set is left alone unless named with --rotate.

  --rotate NAME     put NAME again (from the environment or the terminal) though it is set
  --no-compaction   leave the catalog's compaction setting as it is

Credentials: wrangler's (CLOUDFLARE_API_TOKEN, or \`wrangler login\`); account: CLOUDFLARE_ACCOUNT_ID,
or the only one the credentials see.`;

const SECRET_PURPOSE = {
  CATALOG_TOKEN: "R2 Data Catalog API token: R2 Data Catalog + R2 Storage write on the catalog bucket",
  ADMIN_TOKEN: "bearer token of the Workers' admin endpoints",
};

async function main(argv) {
  const args = parseArgs(argv, { values: ["env"], lists: ["rotate"], flags: ["no-compaction"] }, USAGE);
  const d = readDeployment(args.env);
  const api = await CloudflareApi.connect({ configAccountId: d.accountId });
  const envArgs = args.env ? ["--env", args.env] : [];
  const convertCfg = ["-c", d.stages.convert.file, ...envArgs];
  const changes = [];
  const say = (state, what) => process.stderr.write(`  [${state}] ${what}\n`);
  const secrets = new SecretValues(args.env, (n) => SECRET_PURPOSE[n] ?? "a secret the sources name");

  process.stderr.write(`==> setup ${d.label}: account ${api.accountId}\n`);

  // Buckets.
  for (const bucket of [d.rawBucket, d.catalogBucket]) {
    if (await api.bucket(bucket)) {
      say("exists", `R2 bucket ${bucket}`);
    } else {
      say("create", `R2 bucket ${bucket}`);
      await wranglerOk(["r2", "bucket", "create", bucket, ...convertCfg]);
      changes.push(`created R2 bucket ${bucket}`);
    }
  }

  // R2 Data Catalog on the catalog bucket.
  let catalog = await api.catalog(d.catalogBucket);
  if (catalog?.status === "active") {
    say("exists", `R2 Data Catalog on ${d.catalogBucket} (warehouse ${catalog.name})`);
  } else {
    say("create", `R2 Data Catalog on ${d.catalogBucket}`);
    await wranglerOk(["r2", "bucket", "catalog", "enable", d.catalogBucket, ...convertCfg]);
    catalog = await api.catalog(d.catalogBucket);
    changes.push(`enabled R2 Data Catalog on ${d.catalogBucket}`);
  }

  // Queue and dead-letter queue.
  for (const queue of [d.queue, d.deadLetterQueue]) {
    if (await api.queue(queue)) {
      say("exists", `queue ${queue}`);
    } else {
      say("create", `queue ${queue}`);
      await wranglerOk(["queues", "create", queue, ...convertCfg]);
      changes.push(`created queue ${queue}`);
    }
  }

  // The raw bucket's notification rule.
  const rule = `${d.rawBucket}: ${RULE.eventType} ${RULE.prefix}*${RULE.suffix} -> ${d.queue}`;
  if (hasRawRule(await api.notificationRules(d.rawBucket), d.queue, RULE, CREATE_ACTIONS)) {
    say("exists", `notification rule ${rule}`);
  } else {
    say("create", `notification rule ${rule}`);
    await wranglerOk([
      "r2", "bucket", "notification", "create", d.rawBucket,
      "--event-type", RULE.eventType, "--queue", d.queue, "--prefix", RULE.prefix, "--suffix", RULE.suffix, ...convertCfg,
    ]);
    changes.push(`created notification rule ${rule}`);
  }

  // Secrets of both Workers (a Worker that does not exist yet is created empty to hold them;
  // scripts/deploy uploads its code).
  const rotate = new Set(args.rotate ?? []);
  const present = {};
  for (const stage of Object.values(d.stages)) present[stage.stage] = new Set((await api.secretNames(stage.name)) ?? []);
  // Both Workers take one ADMIN_TOKEN. When one has it and the other not, and its value is not to
  // be had here (it cannot be read back), a new one goes to both.
  const holders = Object.values(d.stages).filter((s) => present[s.stage].has("ADMIN_TOKEN"));
  if (holders.length === 1 && !process.env.ADMIN_TOKEN && !savedAdminToken(args.env)) {
    process.stderr.write(`  note: ADMIN_TOKEN is set on ${holders[0].name} only and its value is unknown here: a new one goes to both Workers\n`);
    rotate.add("ADMIN_TOKEN");
  }
  for (const stage of Object.values(d.stages)) {
    const had = present[stage.stage];
    for (const name of stage.secrets) {
      if (had.has(name) && !rotate.has(name)) {
        say("exists", `secret ${name} of ${stage.name}`);
        continue;
      }
      const value = await secrets.get(name);
      if (!value) {
        throw new Error(
          `secret ${name} of ${stage.name} is not set and there is no value for it: set the environment variable ${name}` +
            (SECRET_PURPOSE[name] ? ` (${SECRET_PURPOSE[name]})` : "") + " or run setup at a terminal",
        );
      }
      say(had.has(name) ? "rotate" : "create", `secret ${name} of ${stage.name}`);
      const envFlag = args.env ? ["--env", args.env] : [];
      await wranglerOk(["secret", "put", name, "-c", stage.file, ...envFlag], { input: value });
      changes.push(`${had.has(name) ? "replaced" : "put"} secret ${name} of ${stage.name}`);
    }
  }

  // Catalog maintenance: compaction, with the catalog token as its credential. Through the API:
  // `wrangler r2 bucket catalog compaction enable` takes the token on its command line.
  if (!args["no-compaction"]) {
    const compaction = catalog?.maintenance_config?.compaction;
    if (compaction?.state === "enabled" && catalog.credential_status === "present") {
      say("exists", `compaction on ${d.catalogBucket} (target ${compaction.target_size_mb} MB)`);
    } else {
      const token = await secrets.get("CATALOG_TOKEN");
      if (!token) {
        say("skip", `compaction on ${d.catalogBucket}: set CATALOG_TOKEN (its credential) and run setup again`);
      } else {
        say("create", `compaction on ${d.catalogBucket} (target 128 MB; credential: CATALOG_TOKEN)`);
        await api.request("POST", `@/r2-catalog/${d.catalogBucket}/credential`, { body: { token } });
        await api.request("POST", `@/r2-catalog/${d.catalogBucket}/maintenance-configs`, {
          body: { compaction: { state: "enabled", target_size_mb: "128" } },
        });
        changes.push(`enabled compaction on ${d.catalogBucket}`);
      }
    }
    const expiration = catalog?.maintenance_config?.snapshot_expiration;
    if (expiration?.state === "enabled") {
      say("note", `snapshot expiration is enabled on ${d.catalogBucket} (${expiration.max_snapshot_age}, keep ${expiration.min_snapshots_to_keep}): left as it is`);
    }
  }

  // The catalog's URI and warehouse in the environment's [vars].
  const vars = catalogVars(api.accountId, d.catalogBucket);
  const table = args.env ? `[env.${args.env}.vars]` : "[vars]";
  const written = setVars(d.stages.convert.file, args.env, vars);
  const file = path.basename(d.stages.convert.file);
  if (written.length) {
    say("write", `${written.join(", ")} in ${file} ${table}`);
    changes.push(`wrote ${written.join(", ")} in ${file} ${table}`);
  } else {
    say("exists", `CATALOG_URI, WAREHOUSE, ACCOUNT_ID in ${file} ${table}`);
  }

  for (const note of secrets.notes) process.stderr.write(`  note: ${note}\n`);
  if (changes.length === 0) {
    process.stderr.write(`==> setup ${d.label}: nothing to change, everything was already in place\n`);
  } else {
    process.stderr.write(`==> setup ${d.label}: ${changes.length} change(s):\n${changes.map((c) => `    - ${c}\n`).join("")}`);
    process.stderr.write(`    next: scripts/deploy all${args.env ? ` --env ${args.env}` : ""}\n`);
  }
}

run(main);
