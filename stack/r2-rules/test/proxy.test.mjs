// The rules layer against the real SeaweedFS of the running stack: every rule, with real commits
// (hand-built updateTable requests and PyIceberg appends). Each test runs its own rules layer (its
// own limits, an ephemeral port) and its own namespace, and checks in SeaweedFS itself what did or
// did not reach it.
//
// Needs the stack (scripts/stack start) and its venv. Run: node --test stack/r2-rules/test/*.test.mjs
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { maxInAnyWindow } from "../limits.mjs";
import { waitFor } from "../../../harness/lib/bounded.mjs";
import { stackRunning } from "../../../harness/lib/stack.mjs";
import { pyAppend, seaweedClient, startRules, TEST_TOKEN, uniqueNamespace, waitInFlight } from "./support.mjs";

let seaweed;

before(async () => {
  assert.ok(await stackRunning(), "the local stack is not running: run scripts/stack start");
  seaweed = await seaweedClient();
});

/** A rules layer and a fresh namespace for one test; stopped afterwards. */
async function withRules(overrides, fn) {
  const rules = await startRules(overrides);
  const ns = uniqueNamespace();
  try {
    await fn(rules, ns);
  } finally {
    await rules.stop();
  }
}

/** Creates `ns` and its tables through SeaweedFS directly (so the rules layer's windows stay empty). */
async function seed(ns, ...tables) {
  assert.equal((await seaweed.createNamespace(ns)).status, 200);
  for (const t of tables) assert.equal((await seaweed.createTable(ns, t)).status, 200, `create ${ns}.${t}`);
}

function assertTooMany(r, rule) {
  assert.equal(r.status, 429, r.text);
  assert.equal(r.headers.get("retry-after"), "60");
  assert.equal(r.json.error.type, "TooManyRequestsException");
  assert.equal(r.json.error.code, 429);
  assert.match(r.json.error.message, new RegExp(rule));
}

describe("rate limits (documented numbers)", () => {
  test("updateTable-per-table: the 21st commit to a table in 60 s is 429, never reaches SeaweedFS; other tables go on", async () => {
    await withRules({}, async ({ client, state }, ns) => {
      await seed(ns, "a", "b");
      for (let i = 1; i <= 20; i++) assert.equal((await client.setProperty(ns, "a", "n", i)).status, 200, `commit ${i}`);
      assertTooMany(await client.setProperty(ns, "a", "n", 21), "updateTable-per-table");
      assert.equal((await seaweed.properties(ns, "a")).n, "20", "the refused commit must not reach SeaweedFS");
      assert.equal((await client.setProperty(ns, "b", "n", 1)).status, 200, "another table has its own budget");
      // Reads are never limited.
      assert.equal((await client.loadTable(ns, "a")).status, 200);
      assert.equal((await client.req("GET", client.path(ns, "/tables"))).status, 200);
      const t = (await client.stats()).tables[`${ns}.a`];
      assert.equal(t.commits.admitted.total, 20);
      assert.equal(t.commits.committed.total, 20);
      assert.deepEqual(t.rejected, { "updateTable-per-table": 1 });
      assert.equal(state.stats.rejected["updateTable-per-table"], 1);
    });
  });

  test("creates-per-catalog: 10 createTable / registerTable / commitTransaction in 60 s, the 11th is 429", async () => {
    await withRules({}, async ({ client }, ns) => {
      await seed(ns, "existing");
      for (let i = 1; i <= 9; i++) assert.equal((await client.createTable(ns, `t${i}`)).status, 200, `create ${i}`);
      const txn = { "table-changes": [{ identifier: { namespace: [ns], name: "existing" }, requirements: [], updates: [{ action: "set-properties", updates: { via: "txn" } }] }] };
      assert.equal((await client.req("POST", `/v1/${client.prefix}/transactions/commit`, { body: txn })).status, 204, "commitTransaction counts too");
      assertTooMany(await client.createTable(ns, "t11"), "creates-per-catalog");
      assert.equal((await seaweed.loadTable(ns, "t11")).status, 404, "the refused create must not reach SeaweedFS");
      const meta = (await seaweed.loadTable(ns, "t1")).json;
      const register = await client.req("POST", client.path(ns, "/register"), { body: { name: "again", "metadata-location": meta["metadata-location"] } });
      assertTooMany(register, "creates-per-catalog");
    });
  });

  test("namespace-ops-per-catalog: 20 createNamespace / dropTable in 60 s, then 429; updateNamespaceProperties is not one of them", async () => {
    await withRules({}, async ({ client }, ns) => {
      await seed(ns, "victim");
      for (let i = 1; i <= 19; i++) assert.equal((await client.createNamespace([ns, `n${i}`])).status, 200, `namespace ${i}`);
      assert.equal((await client.dropTable(ns, "t-missing")).status, 404, "a dropTable counts whatever its outcome");
      assertTooMany(await client.dropTable(ns, "victim"), "namespace-ops-per-catalog");
      assert.equal((await seaweed.loadTable(ns, "victim")).status, 200, "the refused drop must not reach SeaweedFS");
      const props = await client.req("POST", client.path(ns, "/properties"), { body: { removals: [], updates: { owner: "me" } } });
      assert.equal(props.status, 200, props.text);
    });
  });

  test("writes-per-catalog: 120 writes of any kind in 60 s, then 429 for every write", async () => {
    await withRules({}, async ({ client }, ns) => {
      await seed(ns, "t1", "t2", "t3", "t4", "t5", "t6", "t7");
      let writes = 0;
      for (let t = 1; writes < 120; t++) {
        for (let i = 0; i < 20 && writes < 120; i++, writes++) {
          assert.equal((await client.setProperty(ns, `t${t}`, "n", i)).status, 200, `write ${writes + 1}`);
        }
      }
      assertTooMany(await client.setProperty(ns, "t7", "n", 0), "writes-per-catalog");
      assertTooMany(await client.createNamespace([ns, "late"]), "writes-per-catalog");
      const stats = await client.stats();
      assert.equal(stats.catalogs[client.prefix].admitted["writes-per-catalog"].maxInAnyWindow, 120);
      assert.equal(stats.catalogs[client.prefix].rejected["writes-per-catalog"], 2);
    });
  });

  test("the window frees: after Retry-After's window the table takes commits again (window 1.5 s here)", async () => {
    await withRules({ limits: { windowMs: 1500, updateTablePerTable: 2 } }, async ({ client }, ns) => {
      await seed(ns, "a");
      const started = Date.now();
      assert.equal((await client.setProperty(ns, "a", "n", 1)).status, 200);
      assert.equal((await client.setProperty(ns, "a", "n", 2)).status, 200);
      const refused = await client.setProperty(ns, "a", "n", 3);
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get("retry-after"), "2", "Retry-After is the window, rounded up");
      await waitFor(async () => (await client.setProperty(ns, "a", "n", 4)).status === 200, { timeoutMs: 10_000, intervalMs: 200, what: "the window to free" });
      assert.ok(Date.now() - started >= 1500, "not before the first commit left the window");
      assert.equal((await seaweed.properties(ns, "a")).n, "4");
    });
  });
});

describe("commits", () => {
  test("overlapping commits to one table: exactly one wins, the others get 400 ConcurrentUpdateError and are not applied", async () => {
    await withRules({ commitLatencyMs: 1500 }, async ({ client, state }, ns) => {
      await seed(ns, "a", "other");
      const first = client.setProperty(ns, "a", "winner", "first");
      await waitInFlight(state, `${ns}.a`);
      const [others, elsewhere] = await Promise.all([
        Promise.all([1, 2, 3].map((i) => client.setProperty(ns, "a", `loser${i}`, "x"))),
        client.setProperty(ns, "other", "k", "v"),
      ]);
      assert.equal((await first).status, 200);
      for (const r of others) {
        assert.equal(r.status, 400, r.text);
        assert.equal(r.json.error.type, "ConcurrentUpdateError");
      }
      assert.equal(elsewhere.status, 200, "a commit to another table does not collide");
      const props = await seaweed.properties(ns, "a");
      assert.equal(props.winner, "first");
      assert.ok(!("loser1" in props) && !("loser2" in props) && !("loser3" in props), JSON.stringify(props));
      const t = (await client.stats()).tables[`${ns}.a`];
      assert.equal(t.concurrentUpdateErrors, 3);
      assert.equal(t.commits.committed.total, 1);
    });
  });

  test("with ICEPIPE_STACK_R2_CONCURRENT_UPDATE_ERROR=off, overlapping commits both go to SeaweedFS", async () => {
    await withRules({ commitLatencyMs: 1000, concurrentUpdateError: false }, async ({ client }, ns) => {
      await seed(ns, "a");
      const results = await Promise.all([client.setProperty(ns, "a", "one", "x"), client.setProperty(ns, "a", "two", "x")]);
      assert.deepEqual(results.map((r) => r.status), [200, 200]);
      const props = await seaweed.properties(ns, "a");
      assert.ok("one" in props && "two" in props, JSON.stringify(props));
    });
  });

  test("PyIceberg appends racing through the layer: one snapshot lands, the other writer gets the 400", async () => {
    await withRules({}, async ({ url, client, state }, ns) => {
      await seed(ns, "events");
      const ident = `${ns}.events`;
      // Hold the first commit long enough for the second writer (a new Python process) to arrive.
      assert.equal((await client.req("POST", "/_rules/faults", { token: null, body: { kind: "delay", table: ident, ms: 8000 } })).status, 200);
      const first = pyAppend(url, TEST_TOKEN, ident);
      await waitInFlight(state, ident);
      const [second] = await pyAppend(url, TEST_TOKEN, ident);
      const [winner] = await first;
      assert.equal(winner.ok, true, JSON.stringify(winner));
      assert.equal(second.ok, false, JSON.stringify(second));
      assert.match(second.message, /ConcurrentUpdateError/);
      assert.equal((await seaweed.loadTable(ns, "events")).json.metadata.snapshots.length, 1);
    });
  });

  test("a failed requirement is 409 from SeaweedFS, passed through", async () => {
    await withRules({}, async ({ client }, ns) => {
      await seed(ns, "a");
      const r = await client.commit(ns, "a", { requirements: [{ type: "assert-table-uuid", uuid: "00000000-0000-0000-0000-000000000000" }], updates: [] });
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.error.type, "CommitFailedException");
      assert.equal((await client.stats()).tables[`${ns}.a`].conflicts, 1);
    });
  });

  test("commitTransaction applies several tables; a commit to one of them while it is in flight loses", async () => {
    await withRules({ commitLatencyMs: 1000 }, async ({ client, state }, ns) => {
      await seed(ns, "a", "b");
      const change = (name) => ({ identifier: { namespace: [ns], name }, requirements: [], updates: [{ action: "set-properties", updates: { txn: "1" } }] });
      const txn = client.req("POST", `/v1/${client.prefix}/transactions/commit`, { body: { "table-changes": [change("a"), change("b")] } });
      await waitInFlight(state, `${ns}.b`);
      const loser = await client.setProperty(ns, "b", "single", "x");
      assert.equal((await txn).status, 204);
      assert.equal(loser.status, 400);
      assert.equal(loser.json.error.type, "ConcurrentUpdateError");
      assert.equal((await seaweed.properties(ns, "a")).txn, "1");
      assert.equal((await seaweed.properties(ns, "b")).txn, "1");
    });
  });
});

describe("answers as R2 gives them", () => {
  test("401 without or with a wrong token, 403 for a read-only token's write: plain text, counted nowhere", async () => {
    await withRules({ readOnlyToken: "reader" }, async ({ client }, ns) => {
      await seed(ns, "a");
      const body = { requirements: [], updates: [{ action: "set-properties", updates: { k: "v" } }] };
      for (const token of [null, "wrong"]) {
        const r = await client.req("POST", client.path(ns, "/tables/a"), { token, body });
        assert.equal(r.status, 401);
        assert.match(r.headers.get("content-type"), /^text\/plain/);
        assert.equal(r.json, null, "not JSON");
      }
      const denied = await client.req("POST", client.path(ns, "/tables/a"), { token: "reader", body });
      assert.equal(denied.status, 403);
      assert.match(denied.headers.get("content-type"), /^text\/plain/);
      assert.equal((await client.req("GET", client.path(ns, "/tables/a"), { token: "reader" })).status, 200, "reads are fine");
      assert.ok(!("k" in (await seaweed.properties(ns, "a"))));
      const stats = await client.stats();
      assert.equal(stats.tables[`${ns}.a`], undefined, "nothing admitted, nothing counted");
      assert.equal(stats.requests.byStatus["401"], 2);
    });
  });

  test("blocked properties are 409 FailedToSetProperties; the allowed write.metadata.* go through", async () => {
    await withRules({}, async ({ client }, ns) => {
      await seed(ns, "a");
      for (const updates of [
        [{ action: "set-properties", updates: { "write.data.path": "s3://warehouse/elsewhere" } }],
        [{ action: "set-properties", updates: { "write.metadata.path": "s3://warehouse/elsewhere" } }],
        [{ action: "remove-properties", removals: ["write.metadata.metrics.default"] }],
      ]) {
        const r = await client.commit(ns, "a", { updates });
        assert.equal(r.status, 409, r.text);
        assert.equal(r.json.error.type, "FailedToSetProperties");
      }
      assert.equal((await client.setProperty(ns, "a", "write.metadata.previous-versions-max", 5)).status, 200);
      const create = await client.createTable(ns, "b", { properties: { "write.data.path": "s3://warehouse/x" } });
      assert.equal(create.status, 409);
      assert.equal((await seaweed.loadTable(ns, "b")).status, 404);
      const props = await seaweed.properties(ns, "a");
      assert.ok(!("write.data.path" in props) && !("write.metadata.path" in props));
    });
  });

  test("set-location and assign-uuid only to the current value (else 400)", async () => {
    await withRules({}, async ({ client }, ns) => {
      await seed(ns, "a");
      const meta = (await seaweed.loadTable(ns, "a")).json.metadata;
      assert.equal((await client.commit(ns, "a", { updates: [{ action: "set-location", location: "s3://warehouse/moved" }] })).status, 400);
      assert.equal((await client.commit(ns, "a", { updates: [{ action: "assign-uuid", uuid: "11111111-1111-1111-1111-111111111111" }] })).status, 400);
      assert.equal((await client.commit(ns, "a", { updates: [{ action: "set-location", location: meta.location }] })).status, 200);
      const now = (await seaweed.loadTable(ns, "a")).json.metadata;
      assert.equal(now.location, meta.location);
      assert.equal(now["table-uuid"], meta["table-uuid"]);
    });
  });

  test("createTable: a location outside the bucket or holding files is 400; an empty one is fine", async () => {
    await withRules({}, async ({ client }, ns) => {
      await seed(ns, "a");
      const taken = (await seaweed.loadTable(ns, "a")).json.metadata.location;
      assert.equal((await client.createTable(ns, "b", { location: "s3://raw/somewhere" })).status, 400);
      const r = await client.createTable(ns, "c", { location: taken });
      assert.equal(r.status, 400, r.text);
      assert.match(r.json.error.message, /already contains files/);
      assert.equal((await client.createTable(ns, "d", { location: `s3://warehouse/${ns}/fresh_place` })).status, 200);
      assert.equal((await client.createTable(ns, "e")).status, 200, "no location: R2 chooses it");
    });
  });

  test("Idempotency-Key has no effect: a retried commit runs again", async () => {
    await withRules({}, async ({ client }, ns) => {
      await seed(ns, "a");
      const before = (await seaweed.loadTable(ns, "a")).json.metadata["metadata-log"].length;
      const headers = { "Idempotency-Key": "same-key" };
      assert.equal((await client.setProperty(ns, "a", "k", "v", { headers })).status, 200);
      assert.equal((await client.setProperty(ns, "a", "k", "v", { headers })).status, 200);
      assert.equal((await seaweed.loadTable(ns, "a")).json.metadata["metadata-log"].length, before + 2, "two commits, two metadata files");
    });
  });

  test("loadTable returns every snapshot: snapshots=refs and If-None-Match have no effect", async () => {
    await withRules({}, async ({ url, client }, ns) => {
      await seed(ns, "a");
      const appended = await pyAppend(url, TEST_TOKEN, `${ns}.a`, { times: 2 });
      assert.ok(appended.every((a) => a.ok), JSON.stringify(appended));
      // SeaweedFS itself honours snapshots=refs (only the current snapshot): the layer must not.
      assert.equal((await seaweed.loadTable(ns, "a", { query: "?snapshots=refs" })).json.metadata.snapshots.length, 1);
      const r = await client.loadTable(ns, "a", { query: "?snapshots=refs", headers: { "If-None-Match": "*" } });
      assert.equal(r.status, 200);
      assert.equal(r.json.metadata.snapshots.length, 2);
      assert.equal(r.headers.get("etag"), null);
    });
  });

  test("getConfig needs a warehouse, unsupported operations are 406, metrics reports 204 and go nowhere, encryption keys 501, R2's naming rules 400", async () => {
    await withRules({}, async ({ client }, ns) => {
      await seed(ns, "a");
      assert.equal((await client.req("GET", "/v1/config")).status, 400, "getConfig without warehouse");
      assert.equal((await client.req("GET", "/v1/config?warehouse=s3%3A%2F%2Fwarehouse")).status, 200);
      assert.equal((await client.req("POST", client.path(ns, "/tables/a/unregister"), { body: {} })).status, 406);
      assert.equal((await client.req("POST", client.path(ns, "/tables/a/plan"), { body: {} })).status, 406);
      assert.equal((await client.req("POST", client.path(ns, "/tables/a/metrics"), { body: { "report-type": "scan-report" } })).status, 204);
      assert.equal((await client.commit(ns, "a", { updates: [{ action: "add-encryption-key", "encryption-key": { "key-id": "k" } }] })).status, 501);
      assert.equal((await client.createNamespace(["system"])).status, 400);
      assert.equal((await client.createNamespace([ns, "a.b"])).status, 400);
      assert.equal((await client.createNamespace([ns, "b", "c", "d", "e", "f"])).status, 400);
      assert.equal((await client.req("DELETE", `${client.path(ns)}?recursive=true`)).status, 400);
      assert.equal((await client.createTable(ns, "v4", { properties: { "format-version": "4" } })).json.error.type, "InvalidFormatVersion");
      assert.equal((await seaweed.req("GET", seaweed.path(ns))).status, 200, "the refused drop did not happen");
    });
  });

  test("getToken: passed to SeaweedFS (a local convenience) and its tokens accepted; refused like R2 with oauth off", async () => {
    const settings = (await import("../../../harness/lib/stack.mjs")).stackSettings();
    const [id, secret] = settings.credential.split(/:(.*)/s);
    const form = new URLSearchParams({ grant_type: "client_credentials", client_id: id, client_secret: secret });
    await withRules({}, async ({ url, client }) => {
      const r = await fetch(`${url}/v1/oauth/tokens`, { method: "POST", body: form });
      assert.equal(r.status, 200);
      const minted = (await r.json()).access_token;
      assert.equal((await client.req("GET", `/v1/${client.prefix}/namespaces`, { token: minted })).status, 200);
      assert.equal((await client.stats()).requests.byOperation.getToken, 1);
    });
    await withRules({ oauth: false }, async ({ url }) => {
      const r = await fetch(`${url}/v1/oauth/tokens`, { method: "POST", body: form });
      assert.equal(r.status, 406);
    });
  });

  test("the request timeout: past it the client gets 504, and the commit may still land (as on R2)", async () => {
    await withRules({ requestTimeoutMs: 500 }, async ({ client }, ns) => {
      await seed(ns, "a");
      await client.req("POST", "/_rules/faults", { token: null, body: { kind: "delay", table: `${ns}.a`, ms: 1500 } });
      const r = await client.setProperty(ns, "a", "late", "yes");
      assert.equal(r.status, 504, r.text);
      await waitFor(async () => (await seaweed.properties(ns, "a")).late === "yes", { timeoutMs: 10_000, what: "the timed-out commit to apply upstream" });
      assert.equal((await client.stats()).tables[`${ns}.a`].timeouts, 1);
    });
  });
});

describe("test routes", () => {
  test("faults: a lost answer (reset or 502) after the commit applied; 5xx without applying", async () => {
    await withRules({}, async ({ client }, ns) => {
      await seed(ns, "a");
      const fault = (body) => client.req("POST", "/_rules/faults", { token: null, body });
      assert.equal((await fault({ kind: "lose-answer", table: `${ns}.a` })).status, 200);
      await assert.rejects(client.setProperty(ns, "a", "lost1", "x"), "the connection is reset");
      assert.equal((await seaweed.properties(ns, "a")).lost1, "x", "applied although the answer was lost");
      await fault({ kind: "lose-answer", table: `${ns}.a`, as: "502" });
      assert.equal((await client.setProperty(ns, "a", "lost2", "x")).status, 502);
      assert.equal((await seaweed.properties(ns, "a")).lost2, "x");
      await fault({ kind: "fail", table: `${ns}.a`, count: 2, status: 503 });
      assert.equal((await client.setProperty(ns, "a", "failed1", "x")).status, 503);
      assert.equal((await client.setProperty(ns, "a", "failed2", "x")).status, 503);
      assert.equal((await client.setProperty(ns, "a", "fine", "x")).status, 200);
      const props = await seaweed.properties(ns, "a");
      assert.ok(!("failed1" in props) && !("failed2" in props));
      assert.equal((await fault({ kind: "bogus" })).status, 400);
      const stats = await client.stats();
      assert.deepEqual(stats.tables[`${ns}.a`].faults, { "lose-answer": 2, fail: 2 });
      assert.equal(stats.faults.fired, 4);
    });
  });

  test("stats add up: operations, statuses, per-table commit times and their busiest window", async () => {
    await withRules({ limits: { updateTablePerTable: 3 } }, async ({ client }, ns) => {
      await seed(ns, "a");
      for (let i = 0; i < 4; i++) await client.setProperty(ns, "a", "n", i);
      await client.loadTable(ns, "a");
      const stats = await client.stats();
      assert.equal(stats.requests.byOperation.updateTable, 4);
      assert.equal(stats.requests.byOperation.loadTable, 1);
      assert.equal(stats.requests.byStatus["200"], 4);
      assert.equal(stats.requests.byStatus["429"], 1);
      const t = stats.tables[`${ns}.a`];
      assert.equal(t.commits.admitted.times.length, 3);
      assert.equal(t.commits.committed.times.length, 3);
      assert.equal(maxInAnyWindow(t.commits.committed.times, stats.windowMs), t.commits.committed.maxInAnyWindow);
      assert.equal(stats.catalogs[client.prefix].admitted["updateTable-per-table"].total, 3);
      assert.equal((await client.req("POST", "/_rules/reset", { token: null })).status, 200);
      const reset = await client.stats();
      assert.deepEqual(reset.tables, {});
      assert.equal((await client.setProperty(ns, "a", "n", "after-reset")).status, 200, "reset frees the windows too");
    });
  });

  test("/_rules/ is not reachable through a catalog route", async () => {
    await withRules({}, async ({ client }) => {
      for (const p of [`/v1/_rules/stats`, `/v1/${client.prefix}/_rules/stats`, `/v1/${client.prefix}/namespaces/_rules/stats`]) {
        const r = await client.req("GET", p);
        assert.ok(!(r.json && "requests" in r.json), `${p} answered the stats`);
      }
      assert.equal((await client.req("GET", "/_rules/nothing", { token: null })).status, 404);
    });
  });
});
