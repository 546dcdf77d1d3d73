// The ingest Worker in workerd (Miniflare), end to end with the real stack: the bundled sample API
// -> ingest Worker -> RAW -> notification -> convert Worker -> Iceberg tables, checked with
// PyIceberg, DuckDB and polars against the API's own records (harness/check_ingest.py), including
// posts updated, deleted and re-created upstream (posts is a merge resource). Plus pushed events,
// pushed events merged by id (todos, a push-only merge resource), and a pushed stream whose types
// drift and whose keys collide over several loads.
//
// Needs: scripts/stack start, scripts/build-workers (convert and ingest).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { checkIngest, readRows } from "../lib/fixtures.mjs";
import { convertBuild, workerBuild } from "../lib/miniflare.mjs";
import { reportFiles, SAMPLE_SOURCE, startPipeline } from "../lib/pipeline.mjs";
import { reportIfAbandoned, waitFor } from "../lib/bounded.mjs";
import { assertNothingLeftOpen } from "../lib/leftovers.mjs";
import { Catalog, PYTHON, stackRunning, stackStorageProblem } from "../lib/stack.mjs";

let catalog;

before(async () => {
  assert.ok(convertBuild(), "crates/convert/build missing: run scripts/build-workers convert");
  assert.ok(workerBuild("ingest"), "crates/ingest/build missing: run scripts/build-workers ingest");
  assert.ok(existsSync(PYTHON), `${PYTHON} missing: run scripts/stack start`);
  assert.ok(await stackRunning(), "the local stack is not running: run scripts/stack start");
  catalog = new Catalog();
}, { timeout: 60_000 });

after(assertNothingLeftOpen, { timeout: 120_000 });

/**
 * Runs `fn(pipeline)` for test `t`; on failure the Workers' last log lines join the error (a
 * timed-out wait already carries them, with the stack's state).
 */
async function withPipeline(t, opts, fn) {
  const p = await startPipeline(opts);
  const hopeless = () => {
    const dlq = p.convert.deadLettered();
    return dlq.length ? `dead-lettered: ${JSON.stringify(dlq[0])}` : stackStorageProblem();
  };
  try {
    await reportIfAbandoned(t, () => fn(p, hopeless));
  } catch (e) {
    if (e.name !== "WaitTimeout") e.message += `\n--- Worker output (namespace root ${p.namespaceRoot}) ---\n${p.convert.logs.text(60)}`;
    throw e;
  } finally {
    await p.dispose();
  }
}

function assertChecked(result, what) {
  assert.ok(result.ok, `${what}: the tables differ from the API's records:\n${(result.problems ?? []).join("\n")}\n${JSON.stringify(result.tables)}`);
}

function resource(report, name) {
  const r = report.resources.find((x) => x.resource === name);
  assert.ok(r, `no ${name} in the run report: ${JSON.stringify(report)}`);
  return r;
}

describe("ingest Worker in workerd", () => {

  test(
    "sample API -> ingest -> raw -> convert: tables equal the API's records; an incremental second run adds only new rows; replace replaces",
    { timeout: 300_000 },
    async (t) => {
      await withPipeline(t, { sampleApi: { posts: 40, users: 10, commentsPerPost: 3 } }, async (p, hopeless) => {
        const t = (name) => `${p.namespaceRoot}.${SAMPLE_SOURCE}.${name}`;

        // First run: everything.
        const first = await p.runSource();
        assert.equal(first.status, 200, JSON.stringify(first.report));
        assert.equal(first.report.ok, true);
        assert.equal(resource(first.report, "posts").rows, 40);
        assert.equal(resource(first.report, "comments").rows, 120);
        assert.equal(resource(first.report, "users").rows, 10);
        const firstFiles = reportFiles(first.report);
        // posts is a merge resource (nesting = "nested"): its tags stay a column, no child table.
        assert.deepEqual(resource(first.report, "posts").tables, { posts: 40 });
        assert.ok(!firstFiles.some((k) => k.startsWith(`sources/${SAMPLE_SOURCE}/posts__tags/`)), `no child table file: ${firstFiles}`);
        for (const key of firstFiles) {
          assert.match(key, new RegExp(`^sources/${SAMPLE_SOURCE}/[a-z_]+/year=\\d{4}/month=\\d{2}/day=\\d{2}/${first.report.load_id}-\\d{4}\\.parquet$`));
        }
        await p.waitConverted(firstFiles, { failIf: hopeless });
        assertChecked(await checkIngest(p.api.url, p.namespaceRoot), "after the first run");
        const usersAfterFirst = await catalog.tableSummary(t("users"));

        // Nothing changed upstream: the second run loads nothing (no duplicates at the cursor).
        const idle = await p.runSource();
        assert.equal(idle.status, 200, JSON.stringify(idle.report));
        assert.equal(resource(idle.report, "posts").rows, 0, JSON.stringify(idle.report));
        assert.equal(resource(idle.report, "comments").rows, 0);
        // Records received = rows landed (or skipped as already loaded), child tables included.
        for (const report of [first.report, idle.report]) {
          for (const r of report.resources) {
            assert.equal(r.received, r.rows + r.skipped, JSON.stringify(r));
            assert.equal(r.tables[r.resource] ?? 0, r.rows, JSON.stringify(r));
          }
        }

        // New posts upstream: only they arrive; users (replace) are loaded again and replace.
        p.api.appendPosts(7);
        const second = await p.runSource();
        assert.equal(second.status, 200, JSON.stringify(second.report));
        assert.equal(resource(second.report, "posts").rows, 7);
        assert.equal(resource(second.report, "comments").rows, 21);
        assert.equal(resource(second.report, "users").rows, 10);
        await p.waitConverted([...reportFiles(idle.report), ...reportFiles(second.report)], { failIf: hopeless });
        assertChecked(await checkIngest(p.api.url, p.namespaceRoot), "after the incremental run");

        const posts = await catalog.tableSummary(t("posts"));
        assert.equal(posts.totalRecords, 47);
        const users = await catalog.tableSummary(t("users"));
        assert.equal(users.totalRecords, 10, "replace: the second load replaced the first");
        assert.ok(users.snapshotCount > usersAfterFirst.snapshotCount, "the replace made a new snapshot");
        const current = users.snapshots.find((s) => s["snapshot-id"] === users.currentSnapshotId);
        assert.equal(current.summary.operation, "overwrite", JSON.stringify(current.summary));
        assert.equal(current.summary["deleted-records"], "10", JSON.stringify(current.summary));
      });
    },
  );

  test(
    "posts updated, deleted and re-created upstream merge by id: after every incremental run the table is the API's current state (PyIceberg, DuckDB, polars, record by record); a run that changes nothing commits nothing",
    { timeout: 300_000 },
    async (t) => {
      await withPipeline(t, { sampleApi: { posts: 30, users: 3, commentsPerPost: 1 } }, async (p, hopeless) => {
        const ident = `${p.namespaceRoot}.${SAMPLE_SOURCE}.posts`;
        const posts = async () => {
          const r = await fetch(`${p.api.url}/posts?_limit=1000`);
          return r.json();
        };
        /** One incremental run of posts, converted; returns the posts resource of its report. */
        const pull = async () => {
          const run = await p.runSource(SAMPLE_SOURCE, "posts");
          assert.equal(run.status, 200, JSON.stringify(run.report));
          await p.waitConverted(reportFiles(run.report), { failIf: hopeless });
          return resource(run.report, "posts");
        };
        /** The table against the API's current records, every reader, every record and column. */
        const assertCurrent = async (what) => {
          assertChecked(await checkIngest(p.api.url, p.namespaceRoot, { resources: ["posts"] }), what);
          // And from the test itself: exactly the ids the API does not mark deleted, once each,
          // with the API's titles and updated_at.
          const want = (await posts())
            .filter((r) => !r.deleted)
            .sort((a, b) => a.id - b.id)
            .map((r) => [r.id, r.title, new Date(r.updated_at).toISOString()]);
          const read = await readRows(ident, ["id", "title", "updated_at"]);
          assert.ok(read.readers, JSON.stringify(read));
          for (const [reader, rows] of Object.entries(read.readers)) {
            const got = rows.map(([id, title, at]) => [id, title, new Date(at).toISOString()]);
            assert.deepEqual(got, want, `${what}: ${reader}`);
          }
          return want;
        };

        assert.equal((await pull()).rows, 30);
        await assertCurrent("after the first run");
        const first = await catalog.tableSummary(ident);

        // Updates, deletes and new posts: one run merges them.
        p.api.updatePosts([3, 10, 30]);
        p.api.deletePosts([7, 12]);
        p.api.appendPosts(4);
        const second = await pull();
        assert.equal(second.rows, 9, JSON.stringify(second));
        const after2 = await assertCurrent("after updates, deletes and new posts");
        assert.equal(after2.length, 32);
        assert.ok(!after2.some(([id]) => id === 7 || id === 12));
        let summary = await catalog.tableSummary(ident);
        let current = summary.snapshots.find((s) => s["snapshot-id"] === summary.currentSnapshotId);
        assert.equal(current.summary.operation, "overwrite", JSON.stringify(current.summary));
        assert.equal(summary.totalRecords, 32);
        assert.equal(current.summary["deleted-records"], String(first.totalRecords), "the first load's one file was rewritten");

        // A deleted post re-created (updated after its delete), an updated one deleted, one updated
        // again, one deleted and re-created before the next run (the API shows only its last state).
        p.api.updatePosts([7]);
        p.api.deletePosts([3]);
        p.api.updatePosts([10]);
        p.api.deletePosts([20]);
        p.api.updatePosts([20]);
        const third = await pull();
        assert.equal(third.rows, 4, JSON.stringify(third));
        const after3 = await assertCurrent("after a re-create, a delete of an updated post, a second update");
        assert.deepEqual(
          [7, 3, 12].map((id) => after3.some(([x]) => x === id)),
          [true, false, false],
          "7 is back, 3 is gone, 12 stays deleted",
        );

        // Nothing changed upstream: nothing arrives, nothing is committed.
        summary = await catalog.tableSummary(ident);
        const idle = await pull();
        assert.deepEqual([idle.rows, idle.files ?? []], [0, []], JSON.stringify(idle));
        const still = await catalog.tableSummary(ident);
        assert.equal(still.currentSnapshotId, summary.currentSnapshotId, "no snapshot for a run that loaded nothing");
        await assertCurrent("after a run that changed nothing");
        assert.equal(p.convert.deadLettered().length, 0, JSON.stringify(p.convert.deadLettered()));
      });
    },
  );

  test("a single resource runs on ?resource=; an unknown source or resource is a 404 naming what exists", { timeout: 120_000 }, async (t) => {
    await withPipeline(t, { sampleApi: { posts: 5, users: 3, commentsPerPost: 1 } }, async (p) => {
      const one = await p.runSource(SAMPLE_SOURCE, "users");
      assert.equal(one.status, 200, JSON.stringify(one.report));
      assert.deepEqual(one.report.resources.map((r) => r.resource), ["users"]);
      const unknown = await p.runSource("nope");
      assert.equal(unknown.status, 404);
      assert.match(unknown.report.error, /api_jsonplaceholder/);
      const badResource = await p.runSource(SAMPLE_SOURCE, "nope");
      assert.equal(badResource.status, 404);
      assert.match(badResource.report.error, /posts/);
    });
  });

  test("the cron trigger runs every source due on it and lands its files", { timeout: 120_000 }, async (t) => {
    await withPipeline(t, { sampleApi: { posts: 12, users: 4, commentsPerPost: 1 } }, async (p, hopeless) => {
      const result = await p.fireCron("0 * * * *");
      assert.equal(result.outcome, "ok", JSON.stringify(result));
      const runs = p.runs().filter((r) => r.trigger === "cron");
      assert.equal(runs.length, 1, JSON.stringify(p.runs()));
      assert.equal(runs[0].source, SAMPLE_SOURCE);
      assert.deepEqual(runs[0].errors, []);
      const posts = runs[0].resources.find((r) => r.resource === "posts");
      assert.equal(posts.rows, 12);
      const ident = `${p.namespaceRoot}.${SAMPLE_SOURCE}.posts`;
      await waitFor(async () => (await catalog.tableSummary(ident))?.totalRecords === 12, { timeoutMs: 60_000, what: `${ident} to hold 12 rows`, failIf: hopeless });
    });
  });

  test("pushed events: NDJSON and a JSON array land as rows; a retried Idempotency-Key lands once, reused with another body 422; bad bodies 400; oversize 413; no or wrong token 401", { timeout: 180_000 }, async (t) => {
    await withPipeline(t, { sampleApi: { posts: 1 } }, async (p, hopeless) => {
      const ident = `${p.namespaceRoot}.app.clicks`;
      const ndjson = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: i, page: `/p/${i % 7}`, at: "2026-11-24T10:00:00Z", items: [{ sku: `s${i}` }] })).join("\n");
      const a = await p.pushEvents("app", "clicks", ndjson);
      assert.equal(a.status, 200, JSON.stringify(a.json));
      assert.equal(a.json.rows, 50);
      assert.equal(a.json.received, 50);
      assert.equal(a.json.tables["clicks__items"], 50);
      const array = JSON.stringify(Array.from({ length: 25 }, (_, i) => ({ id: 100 + i, page: "/array", at: "2026-11-24T11:00:00Z" })));
      const b = await p.pushEvents("app", "clicks", array, { contentType: "application/json" });
      assert.equal(b.status, 200, JSON.stringify(b.json));
      assert.equal(b.json.rows, 25);

      await p.waitConverted([...a.json.files, ...b.json.files], { failIf: hopeless });
      const s = await catalog.tableSummary(ident);
      assert.equal(s.totalRecords, 75);
      const child = await catalog.tableSummary(`${p.namespaceRoot}.app.clicks__items`);
      assert.equal(child.totalRecords, 50);

      // A client retrying with the same Idempotency-Key gets the first answer; nothing lands twice.
      const retried = JSON.stringify({ id: 900, page: "/retry" });
      const once = await p.pushEvents("app", "clicks", retried, { idempotencyKey: "client-42" });
      assert.equal(once.status, 200, JSON.stringify(once.json));
      const twice = await p.pushEvents("app", "clicks", retried, { idempotencyKey: "client-42" });
      assert.equal(twice.status, 200, JSON.stringify(twice.json));
      assert.equal(twice.json.duplicate, true);
      assert.deepEqual(twice.json.files, once.json.files);
      await p.waitConverted(once.json.files, { failIf: hopeless });
      assert.equal((await catalog.tableSummary(ident)).totalRecords, 76);
      // The same key with another body: 422 naming the key, and nothing of that body lands.
      const reused = await p.pushEvents("app", "clicks", JSON.stringify({ id: 901, page: "/other" }), { idempotencyKey: "client-42" });
      assert.equal(reused.status, 422, JSON.stringify(reused.json));
      assert.match(reused.json.error, /"client-42".*different body/);
      const badKey = await p.pushEvents("app", "clicks", retried, { idempotencyKey: "not ok" });
      assert.equal(badKey.status, 400);

      const bad = await p.pushEvents("app", "clicks", '{"id":1}\n{"id":');
      assert.equal(bad.status, 400);
      assert.match(bad.json.error, /line 2/);
      const badName = await p.pushEvents("App", "clicks", '{"id":1}');
      assert.equal(badName.status, 400);
      assert.match(badName.json.error, /not a valid name/);

      // Over the default MAX_EVENT_BYTES (10 MiB): refused, nothing written.
      const before = p.notified.length;
      const big = `${JSON.stringify({ id: 1, pad: "x".repeat(1000) })}\n`.repeat(11 * 1024);
      const tooBig = await p.pushEvents("app", "clicks", big);
      assert.equal(tooBig.status, 413, JSON.stringify(tooBig.json));
      assert.match(tooBig.json.error, /MAX_EVENT_BYTES/);

      const noToken = await p.pushEvents("app", "clicks", '{"id":1}', { token: null });
      assert.equal(noToken.status, 401);
      const wrongToken = await p.pushEvents("app", "clicks", '{"id":1}', { token: `${p.adminToken}x` });
      assert.equal(wrongToken.status, 401);
      const run = await p.ingestFetch(`/sources/${SAMPLE_SOURCE}/run`, { method: "POST" }, null);
      assert.equal(run.status, 401);
      const health = await p.ingestFetch("/health", {}, null);
      assert.equal(health.status, 200);

      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(p.notified.length, before, "refused requests wrote nothing");
      const after = await catalog.tableSummary(ident);
      assert.equal(after.totalRecords, 76);
    });
  });

  test(
    "pushed events to a merge resource (todos, push_only): upserts by id, duplicates in one push, a hard delete and an older push after a newer one leave one current row per id, the newest version, in PyIceberg, DuckDB and polars; a redelivered merge file changes nothing; a push to a replace resource is 422",
    { timeout: 300_000 },
    async (t) => {
      await withPipeline(t, { sampleApi: { posts: 1, users: 2, commentsPerPost: 1 } }, async (p, hopeless) => {
        const ident = `${p.namespaceRoot}.${SAMPLE_SOURCE}.todos`;
        const todo = (id, version, extra = {}) => ({ id, version, title: `todo ${id} v${version}`, ...extra });
        /** One push of `events` to todos as NDJSON, converted; returns the answer. */
        const push = async (events) => {
          const r = await p.pushEvents(SAMPLE_SOURCE, "todos", events.map((e) => JSON.stringify(e)).join("\n"));
          assert.equal(r.status, 200, JSON.stringify(r.json));
          assert.equal(r.json.write_disposition, "merge", JSON.stringify(r.json));
          assert.deepEqual(r.json.tables, { todos: events.length }, "every event is a row of the raw file");
          await p.waitConverted(r.json.files, { failIf: hopeless });
          return r.json;
        };
        /** The table, as each reader sees it, is exactly `want`: [id, version, deleted] by id. */
        const assertTable = async (want, what) => {
          const read = await readRows(ident, ["id", "title", "version", "deleted"]);
          assert.ok(read.readers, JSON.stringify(read));
          assert.deepEqual(Object.keys(read.readers).sort(), ["duckdb", "polars", "pyiceberg"]);
          const rows = want.map(([id, version, deleted = null]) => [id, `todo ${id} v${version}`, version, deleted]);
          for (const [reader, got] of Object.entries(read.readers)) assert.deepEqual(got, rows, `${what}: ${reader}`);
          assert.equal((await catalog.tableSummary(ident)).totalRecords, want.length, `${what}: total-records`);
        };
        const currentSummary = async () => {
          const s = await catalog.tableSummary(ident);
          return { s, summary: s.snapshots.find((x) => x["snapshot-id"] === s.currentSnapshotId).summary };
        };

        // Inserts.
        await push([1, 2, 3, 4, 5, 6].map((id) => todo(id, 1)));
        await assertTable([[1, 1], [2, 1], [3, 1], [4, 1], [5, 1], [6, 1]], "after the inserts");

        // Updates of some ids, three versions of id 3 in one push (the largest wins, not the last),
        // a hard delete, a new id with an explicit `"deleted": false` (an upsert).
        const updates = await push([
          todo(2, 3),
          todo(3, 2),
          todo(3, 5),
          todo(3, 4),
          todo(4, 2, { deleted: true }),
          todo(7, 1, { deleted: false }),
        ]);
        const afterUpdates = [[1, 1], [2, 3], [3, 5], [5, 1], [6, 1], [7, 1, false]];
        await assertTable(afterUpdates, "after updates, duplicates and a delete");

        // A newer push, then an older one delivered after it: nothing of the older one wins, not
        // even over a delete (id 6 deleted at 10, upserted at 8; id 4 deleted at 2, upserted at 1).
        await push([todo(5, 10), todo(6, 10, { deleted: true })]);
        const final = [[1, 1], [2, 3], [3, 5], [5, 10], [7, 1, false]];
        await assertTable(final, "after a newer push");
        await push([todo(5, 7), todo(6, 8), todo(2, 2), todo(4, 1)]);
        await assertTable(final, "after an older push delivered after the newer one");
        const { s: before, summary } = await currentSummary();
        assert.equal(summary["icepipe.merge.stale-keys"], "4", `every key of the older push is stale: ${JSON.stringify(summary)}`);

        // A redelivered merge file: the ledger holds it, nothing is read or committed.
        await p.redeliver(updates.files, { failIf: hopeless });
        const after = await catalog.tableSummary(ident);
        assert.equal(after.currentSnapshotId, before.currentSnapshotId, "a redelivered merge file committed nothing");
        await assertTable(final, "after a redelivery");

        // A replace resource cannot be pushed to: 422 naming the stream and why, nothing stored.
        const notifiedBefore = p.notified.length;
        const replace = await p.pushEvents(SAMPLE_SOURCE, "users", '{"id": 1}');
        assert.equal(replace.status, 422, JSON.stringify(replace.json));
        assert.match(replace.json.error, /api_jsonplaceholder\/users not stored: .*write_disposition = "replace"/);
        // A push-only resource is never pulled: runs leave it out, and naming it is a 400.
        const run = await p.runSource();
        assert.equal(run.status, 200, JSON.stringify(run.report));
        assert.deepEqual(run.report.resources.map((r) => r.resource).sort(), ["comments", "posts", "users"]);
        const pullTodos = await p.runSource(SAMPLE_SOURCE, "todos");
        assert.equal(pullTodos.status, 400, JSON.stringify(pullTodos.report));
        assert.match(pullTodos.report.error, /push_only.*POST \/events\/api_jsonplaceholder\/todos/);
        await p.waitConverted(reportFiles(run.report), { failIf: hopeless });
        assert.equal(p.notified.length, notifiedBefore + reportFiles(run.report).length, "the refused push wrote nothing");
        assert.equal(p.convert.deadLettered().length, 0, JSON.stringify(p.convert.deadLettered()));
      });
    },
  );

  test("pushed loads whose types drift (5 then 1.5), whose colliding keys arrive in another order each time and whose integers pass 2^53 and i64: every row lands in stable columns, every digit kept, PyIceberg and DuckDB agree", { timeout: 240_000 }, async (t) => {
    await withPipeline(t, { sampleApi: { posts: 1 } }, async (p, hopeless) => {
      const ident = `${p.namespaceRoot}.app.drift`;
      // `user_id`, `userId` and `UserID` all normalize to `user_id`: each key keeps the column it got
      // first (its value says which key it came from), whichever order later loads bring them in.
      const loads = [
        [{ id: 1, n: 5, user_id: "a1" }, { id: 2, n: 6, userId: "b2" }],
        [{ id: 3, n: 1.5, UserID: "c3" }, { id: 4, n: 7, userId: "b4" }],
        [{ id: 5, n: 2.5, UserID: "c5", userId: "b5", user_id: "a5" }],
      ];
      const answers = [];
      for (const [i, events] of loads.entries()) {
        // Integers JavaScript cannot even write: 2^53 + 1 (a long) and 30 digits (beyond i64: text).
        const body = JSON.stringify(events.map((e) => ({ ...e, exact: "EXACT", big: "BIG" })))
          .replaceAll('"EXACT"', String(9007199254740993n + BigInt(i)))
          .replaceAll('"BIG"', `12345678901234567890123456789${i}`);
        const r = await p.pushEvents("app", "drift", body, { contentType: "application/json" });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        answers.push(r.json);
        // One load at a time, as a producer pushing every few minutes would.
        await p.waitConverted(r.json.files, { failIf: hopeless });
      }
      assert.deepEqual(answers[0].schema_changes, ['renamed: key "userId" of drift is column user_id_2 (its name was taken)']);
      assert.deepEqual(answers[1].schema_changes, [
        'renamed: key "UserID" of drift is column user_id_3 (its name was taken)',
        "varied: values of drift.n that do not fit its long went to n__v_double",
      ]);
      assert.deepEqual(answers[2].schema_changes, ["varied: values of drift.n that do not fit its long went to n__v_double"]);
      // The ingest Worker's log line of each push says the same.
      const lines = p.convert.logs.records("events").filter((l) => l.resource === "drift");
      assert.deepEqual(lines.map((l) => l.schema_changes), answers.map((a) => a.schema_changes ?? []));
      assert.equal(p.convert.deadLettered().length, 0, JSON.stringify(p.convert.deadLettered()));
      // Transient errors (a 429 of the catalog's table-creation limit, after the tests before) are
      // retried; a refused file would be permanent.
      const refused = p.convert.batches().flatMap((b) => (Array.isArray(b.errors) ? b.errors : [])).filter((e) => e.kind !== "transient");
      assert.deepEqual(refused, [], "no raw file was refused");

      const read = await readRows(ident, ["id", "n", "n__v_double", "user_id", "user_id_2", "user_id_3", "exact", "big"]);
      assert.ok(read.readers, JSON.stringify(read));
      const [e0, e1, e2] = ["9007199254740993", "9007199254740994", "9007199254740995"];
      const [b0, b1, b2] = ["123456789012345678901234567890", "123456789012345678901234567891", "123456789012345678901234567892"];
      const expected = [
        [1, 5, null, "a1", null, null, e0, b0],
        [2, 6, null, null, "b2", null, e0, b0],
        [3, null, 1.5, null, null, "c3", e1, b1],
        [4, 7, null, null, "b4", null, e1, b1],
        [5, null, 2.5, "a5", "b5", "c5", e2, b2],
      ];
      assert.deepEqual(read.readers.pyiceberg, expected, "PyIceberg");
      assert.deepEqual(read.readers.duckdb, expected, "DuckDB");
    });
  });
});
