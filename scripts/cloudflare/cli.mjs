// Argument parsing and the exit path shared by setup, deploy and doctor.
import { CloudflareError } from "./cloudflare.mjs";
import { DeploymentError } from "./deployment.mjs";

export class UsageError extends Error {}

/**
 * `--name value` / `--name=value` for `values`, repeatable ones for `lists`, `--flag` for `flags`,
 * the rest positional. `-h`/`--help` prints `usage` and exits.
 */
export function parseArgs(argv, { values = [], lists = [], flags = [] }, usage) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") {
      process.stdout.write(usage + "\n");
      process.exit(0);
    }
    if (!arg.startsWith("--")) {
      out._.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (flags.includes(name)) {
      out[name] = true;
    } else if (values.includes(name) || lists.includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined || value === "") throw new UsageError(`--${name} needs a value`);
      if (lists.includes(name)) (out[name] ??= []).push(value);
      else out[name] = value;
    } else {
      throw new UsageError(`unknown option ${arg}`);
    }
  }
  out.usage = usage;
  return out;
}

/** Runs `main(argv)`; an error ends the process with its message (exit 1; 2 for usage). */
export function run(main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code ?? 0),
    (e) => {
      const known = e instanceof UsageError || e instanceof DeploymentError || e instanceof CloudflareError;
      // Expected failures say what to do in their message; a stack only for the unexpected.
      const detail = known || !process.env.ICEPIPE_DEBUG ? e?.message ?? e : e?.stack ?? e;
      process.stderr.write(`error: ${detail}\n`);
      if (e instanceof CloudflareError && (e.status === 401 || e.status === 403)) {
        process.stderr.write("(the API token is invalid or lacks a permission: README.md, \"Deploy to Cloudflare\", lists the ones needed)\n");
      }
      if (e instanceof UsageError) process.stderr.write("(try --help)\n");
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}
