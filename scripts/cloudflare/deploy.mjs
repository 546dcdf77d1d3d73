// scripts/deploy <ingest|convert|all> [--env ENV] [--dry-run]: builds the Workers offline once,
// then `wrangler deploy -c wrangler.<stage>.toml [--env ENV]` stage by stage, convert first (the
// consumer is in place before the producer lands anything).
import { spawn } from "node:child_process";
import path from "node:path";
import { wranglerOk } from "./cloudflare.mjs";
import { DeploymentError, readDeployment, ROOT, STAGES } from "./deployment.mjs";
import { parseArgs, run, UsageError } from "./cli.mjs";

const USAGE = `scripts/deploy <ingest|convert|all> [--env ENV] [--dry-run]

Builds the Workers offline (scripts/build-workers; ICEPIPE_WASM_OPT=0 skips wasm-opt), then runs
\`wrangler deploy -c wrangler.<stage>.toml [--env ENV]\` for each stage, convert before ingest.
--dry-run builds and validates the upload (\`wrangler deploy --dry-run\`) without an account.
Run scripts/setup [--env ENV] once first: it creates the buckets, queues, catalog and secrets the
Workers bind to and writes the catalog's URI into wrangler.convert.toml.`;

/** The vars setup writes; a convert Worker deployed without them cannot reach its catalog. */
const SETUP_VARS = ["CATALOG_URI", "WAREHOUSE"];

function buildWorkers(which) {
  const script = path.join(ROOT, "scripts", "build-workers");
  process.stderr.write(`  $ scripts/build-workers ${which}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(script, [which], { stdio: "inherit" });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`scripts/build-workers ${which} failed (exit ${code})`))));
  });
}

async function main(argv) {
  const args = parseArgs(argv, { values: ["env"], flags: ["dry-run"] }, USAGE);
  if (args._.length !== 1) throw new UsageError("name one stage: ingest, convert or all");
  const which = args._[0];
  if (![...STAGES, "all"].includes(which)) throw new UsageError(`unknown stage ${which} (ingest, convert or all)`);
  const stages = STAGES.filter((s) => which === "all" || s === which);
  const d = readDeployment(args.env);

  if (!args["dry-run"] && stages.includes("convert")) {
    const missing = SETUP_VARS.filter((v) => !d.stages.convert.vars[v]);
    if (missing.length) {
      const table = args.env ? `[env.${args.env}.vars]` : "[vars]";
      throw new DeploymentError(
        `${missing.join(" and ")} missing from ${path.basename(d.stages.convert.file)} ${table}: run scripts/setup${args.env ? ` --env ${args.env}` : ""} first`,
      );
    }
  }

  process.stderr.write(`==> deploy ${stages.join(", then ")} (${d.label})${args["dry-run"] ? ", dry run" : ""}\n`);
  await buildWorkers(which);
  for (const stage of stages) {
    const s = d.stages[stage];
    process.stderr.write(`==> ${stage}: ${s.name}\n`);
    const cmd = ["deploy", "-c", s.file, ...(args.env ? ["--env", args.env] : [])];
    if (args["dry-run"]) cmd.push("--dry-run");
    // Built moments ago: the [build] command in the wrangler file need not build again.
    await wranglerOk(cmd, { env: { ICEPIPE_PREBUILT: stages.join(",") } });
  }
  process.stderr.write(
    args["dry-run"]
      ? `==> dry run of ${stages.join(", ")} (${d.label}) passed\n`
      : `==> deployed ${stages.map((s) => d.stages[s].name).join(", ")}; check it: scripts/doctor${args.env ? ` --env ${args.env}` : ""}\n`,
  );
}

run(main);
