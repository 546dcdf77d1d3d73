#!/usr/bin/env node
// The demo's pipeline run (scripts/demo starts the stack and builds the Workers first):
// sample API -> ingest Worker -> RAW -> notifications -> convert Worker -> Iceberg tables, shown by
// DuckDB and PyIceberg; then new, updated and deleted posts upstream and a second, incremental run
// that merges them (posts is a merge resource: one current row per id).
//
//   node harness/demo.mjs [--namespace-root analytics] [--posts 100] [--users 10] [--comments-per-post 5]
import { spawnSync } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";
import { checkIngest } from "./lib/fixtures.mjs";
import { reportFiles, SAMPLE_SOURCE, startPipeline } from "./lib/pipeline.mjs";
import { PYTHON, ROOT, stackRunning, stackSettings, stackStorageProblem } from "./lib/stack.mjs";

const { values: args } = parseArgs({
  options: {
    "namespace-root": { type: "string", default: "analytics" },
    posts: { type: "string", default: "100" },
    users: { type: "string", default: "10" },
    "comments-per-post": { type: "string", default: "5" },
    "new-posts": { type: "string", default: "20" },
  },
});

const say = (text) => process.stdout.write(`\n==> ${text}\n`);

function printReport({ status, report }) {
  process.stdout.write(`HTTP ${status}\n${JSON.stringify(report, null, 2)}\n`);
  if (status !== 200) throw new Error(`the ingest run failed: ${JSON.stringify(report.errors)}`);
}

function show(tables, { rows = 0, ids, columns, snapshots = true }) {
  const flags = [
    ["--rows", String(rows)],
    ids ? ["--ids", ids.join(",")] : [],
    columns ? ["--columns", columns.join(",")] : [],
    snapshots ? [] : ["--no-snapshots"],
  ].flat();
  const r = spawnSync(PYTHON, [path.join(ROOT, "scripts", "duckdb_show.py"), ...flags, ...tables], {
    env: { ...process.env, ...stackSettings().env },
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error(`duckdb_show.py exited with ${r.status}`);
}

if (!(await stackRunning())) {
  process.stderr.write("demo: the local stack is not running (scripts/demo starts it)\n");
  process.exit(1);
}

const root = args["namespace-root"];
const p = await startPipeline({
  namespaceRoot: root,
  sampleApi: { posts: Number(args.posts), users: Number(args.users), commentsPerPost: Number(args["comments-per-post"]) },
});
const failIf = () => {
  const dlq = p.convert.deadLettered();
  return dlq.length ? `dead-lettered: ${JSON.stringify(dlq[0])}` : stackStorageProblem();
};
const tables = ["posts", "comments", "users"].map((t) => `${root}.${SAMPLE_SOURCE}.${t}`);
const posts = tables[0];
// Changed upstream before the second run (the demo needs at least 7 posts).
const UPDATED = [2, 7];
const DELETED = [5];
const CHANGED = [...UPDATED, ...DELETED].sort((a, b) => a - b);
const ID_COLUMNS = ["id", "title", "updated_at", "_loaded_at"];
let failed = false;
try {
  say(`sample API on ${p.api.url}: ${args.posts} posts (with tags), ${Number(args.posts) * Number(args["comments-per-post"])} comments, ${args.users} users`);
  say(`POST /sources/${SAMPLE_SOURCE}/run on the ingest Worker (workerd)`);
  const first = await p.runSource();
  printReport(first);

  say("the convert Worker commits every raw file (R2 notification -> queue -> Iceberg)");
  await p.waitConverted(reportFiles(first.report), { failIf });
  process.stdout.write(`${p.notified.length} raw files converted\n`);
  show(tables, { rows: 3 });

  show([posts], { ids: CHANGED, columns: ID_COLUMNS, snapshots: false });

  say(
    `upstream: ${args["new-posts"]} new posts, posts ${UPDATED.join(" and ")} updated (new title), post ${DELETED.join(", ")} deleted ` +
      `(listed with "deleted": true); each change gets a newer updated_at`,
  );
  p.api.appendPosts(Number(args["new-posts"]));
  for (const change of [...p.api.updatePosts(UPDATED), ...p.api.deletePosts(DELETED)]) process.stdout.write(`${JSON.stringify(change)}\n`);
  say("a second run: incremental (updated_at_gte = the stored cursor), only the new and changed posts arrive and merge by id");
  const second = await p.runSource();
  printReport(second);
  await p.waitConverted(reportFiles(second.report), { failIf });
  show(tables, { rows: 0 });
  show([posts], { ids: CHANGED, columns: ID_COLUMNS, snapshots: false });
  say("PyIceberg, DuckDB and polars against the API's current records (harness/check_ingest.py)");
  const check = await checkIngest(p.api.url, root);
  if (!check.ok) throw new Error(`the tables differ from the API's records:\n${(check.problems ?? []).join("\n")}`);
  for (const [table, readers] of Object.entries(check.tables)) process.stdout.write(`  ${table}: ${JSON.stringify(readers)} rows, every record equal\n`);
  say(`done: tables ${root}.${SAMPLE_SOURCE}.* are in the local catalog (${stackSettings().catalogUri})`);
} catch (e) {
  failed = true;
  process.stderr.write(`\ndemo failed: ${e.stack ?? e}\n--- Worker output ---\n${p.convert.logs.text(40)}\n`);
} finally {
  await p.dispose();
}
process.exit(failed ? 1 : 0);
