// The rules layer's decisions without a network: request classification, the rate-limit windows
// on a fake clock, commit slots, request rules, fault parsing, configuration from the environment.
// Run: node --test stack/r2-rules/test/*.test.mjs
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ClientAuth } from "../auth.mjs";
import { configFromEnv } from "../config.mjs";
import { Faults, parseFault } from "../faults.mjs";
import { DOCUMENTED_LIMITS, maxInAnyWindow, RateLimiter, rulesFor, SlidingWindow } from "../limits.mjs";
import { CommitSlots } from "../overlap.mjs";
import { rates, replay, writesOf } from "../replay.mjs";
import { classify, routeIdent, WRITE_OPERATIONS } from "../routes.mjs";
import { forwardableHeaders } from "../upstream.mjs";
import {
  createNamespaceProblem,
  createTableProblem,
  identityProblem,
  isBlockedProperty,
  namespacePropertiesProblem,
  queryProblem,
  registerTableProblem,
  transactionProblem,
  updatesProblem,
} from "../validate.mjs";

class FakeClock {
  t = 1_000_000;
  now = () => this.t;
  advance(ms) {
    this.t += ms;
  }
}

describe("routes", () => {
  const cases = [
    ["GET", "/v1/config", "getConfig"],
    ["POST", "/v1/oauth/tokens", "getToken"],
    ["GET", "/v1/warehouse/namespaces", "listNamespaces"],
    ["POST", "/v1/warehouse/namespaces", "createNamespace"],
    ["DELETE", "/v1/warehouse/namespaces/a%1Fb", "dropNamespace"],
    ["POST", "/v1/warehouse/namespaces/a/properties", "updateNamespaceProperties"],
    ["GET", "/v1/warehouse/namespaces/a/tables", "listTables"],
    ["POST", "/v1/warehouse/namespaces/a/tables", "createTable"],
    ["POST", "/v1/warehouse/namespaces/a/register", "registerTable"],
    ["GET", "/v1/warehouse/namespaces/a/tables/t", "loadTable"],
    ["HEAD", "/v1/warehouse/namespaces/a/tables/t", "tableExists"],
    ["POST", "/v1/warehouse/namespaces/a/tables/t", "updateTable"],
    ["DELETE", "/v1/warehouse/namespaces/a/tables/t", "dropTable"],
    ["POST", "/v1/warehouse/namespaces/a/tables/t/metrics", "reportMetrics"],
    ["POST", "/v1/warehouse/namespaces/a/tables/t/plan", "planTableScan"],
    ["POST", "/v1/warehouse/tables/rename", "renameTable"],
    ["POST", "/v1/warehouse/transactions/commit", "commitTransaction"],
    ["POST", "/v1/warehouse/namespaces/a/views", "createView"],
    ["POST", "/v1/warehouse/namespaces/a/views/v", "replaceView"],
    ["DELETE", "/v1/warehouse/namespaces/a/views/v", "dropView"],
    ["POST", "/v1/warehouse/views/rename", "renameView"],
    ["POST", "/v1/namespaces/a/tables/t", "updateTable"], // a catalog without a prefix
    ["GET", "/_rules/stats", "other"],
    ["GET", "/v1/warehouse/_rules/stats", "other"],
  ];
  for (const [method, path, operation] of cases) {
    test(`${method} ${path} is ${operation}`, () => assert.equal(classify(method, path).operation, operation));
  }

  test("namespace levels split on %1F; the table is named ns.ns.t; the prefix is the catalog", () => {
    const route = classify("POST", "/v1/warehouse/namespaces/analytics%1Fapi/tables/posts");
    assert.deepEqual(route.namespace, ["analytics", "api"]);
    assert.equal(route.catalog, "warehouse");
    assert.equal(routeIdent(route), "analytics.api.posts");
  });

  test("reads are not writes", () => {
    for (const op of ["loadTable", "listTables", "getConfig", "listNamespaces", "loadNamespaceMetadata", "tableExists"]) {
      assert.ok(!WRITE_OPERATIONS.has(op), op);
    }
  });
});

describe("rate limits", () => {
  test("the documented rules and what counts toward each", () => {
    const names = (op) => rulesFor(op).map((r) => r.name).sort();
    assert.deepEqual(names("updateTable"), ["updateTable-per-table", "writes-per-catalog"]);
    assert.deepEqual(names("replaceView"), ["updateTable-per-table", "writes-per-catalog"]);
    for (const op of ["createTable", "registerTable", "commitTransaction", "createView"]) {
      assert.deepEqual(names(op), ["creates-per-catalog", "writes-per-catalog"], op);
    }
    for (const op of ["createNamespace", "dropNamespace", "dropTable", "renameTable", "dropView", "renameView"]) {
      assert.deepEqual(names(op), ["namespace-ops-per-catalog", "writes-per-catalog"], op);
    }
    assert.deepEqual(names("updateNamespaceProperties"), ["writes-per-catalog"]);
    assert.deepEqual(DOCUMENTED_LIMITS, { windowMs: 60_000, updateTablePerTable: 20, writesPerCatalog: 120, createsPerCatalog: 10, namespaceOpsPerCatalog: 20 });
  });

  test("sliding window: a request leaves exactly windowMs after it came", () => {
    const w = new SlidingWindow(60_000);
    w.record(0);
    w.record(30_000);
    assert.equal(w.count(59_999), 2);
    assert.equal(w.count(60_000), 1);
    assert.equal(w.count(90_000), 0);
  });

  const commit = (table) => ({ operation: "updateTable", catalog: "wh", namespace: ["ns"], table });

  test("updateTable: 20 per table per 60 s, the 21st is refused; other tables are not affected; the window frees", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ now: clock.now });
    for (let i = 0; i < 20; i++) {
      assert.deepEqual(limiter.admit(commit("a"), "ns.a"), { admitted: true }, `commit ${i + 1}`);
      clock.advance(1000);
    }
    assert.deepEqual(limiter.admit(commit("a"), "ns.a"), { admitted: false, rule: "updateTable-per-table", limit: 20 });
    assert.deepEqual(limiter.admit(commit("b"), "ns.b"), { admitted: true });
    // The first commit came at t0; it leaves the window at t0 + 60 s (now t0 + 20 s).
    clock.advance(40_000);
    assert.deepEqual(limiter.admit(commit("a"), "ns.a"), { admitted: true });
    assert.equal(limiter.admit(commit("a"), "ns.a").admitted, false, "the second commit is still in the window");
    assert.equal(limiter.retryAfterSeconds, 60);
  });

  test("rejected requests do not count (waiting Retry-After is enough), unless countRejected", () => {
    for (const countRejected of [false, true]) {
      const clock = new FakeClock();
      const limiter = new RateLimiter({ limits: { updateTablePerTable: 1 }, countRejected, now: clock.now });
      assert.equal(limiter.admit(commit("a"), "ns.a").admitted, true);
      clock.advance(30_000);
      assert.equal(limiter.admit(commit("a"), "ns.a").admitted, false);
      clock.advance(30_000); // the admitted one leaves; the rejected one (t=30 s) stays if counted
      assert.equal(limiter.admit(commit("a"), "ns.a").admitted, !countRejected, `countRejected=${countRejected}`);
    }
  });

  test("a write refused by one rule is not recorded by the others", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ limits: { updateTablePerTable: 1, writesPerCatalog: 3 }, now: clock.now });
    assert.equal(limiter.admit(commit("a"), "ns.a").admitted, true);
    for (let i = 0; i < 5; i++) assert.equal(limiter.admit(commit("a"), "ns.a").rule, "updateTable-per-table");
    // Had the refused ones counted toward writes-per-catalog, these two would be refused.
    assert.equal(limiter.admit(commit("b"), "ns.b").admitted, true);
    assert.equal(limiter.admit(commit("c"), "ns.c").admitted, true);
    assert.equal(limiter.admit(commit("d"), "ns.d").rule, "writes-per-catalog");
  });

  test("catalogs are separate; a limit set to null is off", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ limits: { createsPerCatalog: 1 }, now: clock.now });
    const create = (catalog) => ({ operation: "createTable", catalog, namespace: ["ns"], table: null });
    assert.equal(limiter.admit(create("one")).admitted, true);
    assert.equal(limiter.admit(create("one")).rule, "creates-per-catalog");
    assert.equal(limiter.admit(create("two")).admitted, true);
    const open = new RateLimiter({ limits: { createsPerCatalog: null }, now: clock.now });
    for (let i = 0; i < 50; i++) assert.equal(open.admit(create("one")).admitted, true);
  });

  test("maxInAnyWindow finds the busiest window", () => {
    assert.equal(maxInAnyWindow([], 60_000), 0);
    assert.equal(maxInAnyWindow([0, 10, 59_999, 60_000, 60_001], 60_000), 4);
    assert.equal(maxInAnyWindow([0, 60_000, 120_000], 60_000), 1);
  });
});

describe("overlapping commits", () => {
  test("the first claim wins; later ones on any of its tables lose until it is released", async () => {
    const slots = new CommitSlots();
    const first = slots.claim(["wh|ns.a", "wh|ns.b"]);
    assert.equal(first.won, true);
    const loser = slots.claim(["wh|ns.b"]);
    assert.equal(loser.won, false);
    assert.equal(slots.claim(["wh|ns.c"]).won, true, "another table is free");
    let settled = false;
    loser.settled.then(() => {
      settled = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, "the loser waits for the winner");
    first.release();
    await loser.settled;
    assert.equal(slots.claim(["wh|ns.a"]).won, true, "free again after release");
  });
});

describe("request rules", () => {
  test("blocked table properties", () => {
    for (const key of ["write.data.path", "write.data.path.x", "write.metadata.path", "write.metadata.metrics.default", "write.metadata.foo"]) {
      assert.ok(isBlockedProperty(key), key);
    }
    for (const key of ["write.metadata.compression-codec", "write.metadata.delete-after-commit.enabled", "write.metadata.previous-versions-max", "write.parquet.compression-codec", "owner"]) {
      assert.ok(!isBlockedProperty(key), key);
    }
    const p = updatesProblem([{ action: "set-properties", updates: { "write.data.path": "s3://x" } }]);
    assert.equal(p.status, 409);
    assert.equal(p.type, "FailedToSetProperties");
    assert.equal(updatesProblem([{ action: "remove-properties", removals: ["write.metadata.path"] }]).status, 409);
    assert.equal(updatesProblem([{ action: "set-properties", updates: { "write.metadata.previous-versions-max": "5" } }]), null);
  });

  test("encryption keys are 501; the maintenance interval must be 3600", () => {
    assert.equal(updatesProblem([{ action: "add-encryption-key", "encryption-key": {} }]).status, 501);
    const p = updatesProblem([{ action: "set-properties", updates: { "cloudflare-data-catalog.maintenance.interval-seconds": "60" } }]);
    assert.equal(p.type, "InvalidMaintenanceIntervalPropertyValue");
  });

  test("set-location / assign-uuid only to the current value", () => {
    const meta = { location: "s3://wh/ns/t", "table-uuid": "u-1" };
    assert.equal(identityProblem([{ action: "set-location", location: "s3://wh/ns/t" }, { action: "assign-uuid", uuid: "u-1" }], meta), null);
    assert.equal(identityProblem([{ action: "set-location", location: "s3://wh/else" }], meta).status, 400);
    assert.equal(identityProblem([{ action: "assign-uuid", uuid: "u-2" }], meta).status, 400);
  });

  test("createTable: name, format-version, blocked properties", () => {
    assert.equal(createTableProblem({ name: "t", properties: { "format-version": "3" } }), null);
    assert.equal(createTableProblem({ name: "t", properties: { "format-version": "4" } }).type, "InvalidFormatVersion");
    assert.equal(createTableProblem({ name: "", schema: {} }).status, 400);
    assert.equal(createTableProblem({ name: "t", properties: { "write.metadata.path": "x" } }).status, 409);
  });

  test("namespaces: depth, periods, reserved names, lowercase property keys, location fixed", () => {
    assert.equal(createNamespaceProblem({ namespace: ["a", "b"], properties: { owner: "me" } }), null);
    assert.equal(createNamespaceProblem({ namespace: ["a", "b", "c", "d", "e", "f"] }).status, 400);
    assert.equal(createNamespaceProblem({ namespace: ["a.b"] }).status, 400);
    assert.equal(createNamespaceProblem({ namespace: ["System"] }).status, 400);
    assert.equal(createNamespaceProblem({ namespace: ["x", ""] }).status, 400);
    assert.equal(createNamespaceProblem({ namespace: ["a"], properties: { Owner: "me" } }).status, 400);
    assert.equal(namespacePropertiesProblem({ updates: { location: "s3://x" }, removals: [] }).status, 400);
    assert.equal(namespacePropertiesProblem({ updates: {}, removals: ["location"] }).status, 400);
    assert.equal(namespacePropertiesProblem({ updates: { owner: "me" }, removals: ["comment"] }), null);
  });

  test("drop parameters R2 refuses", () => {
    assert.equal(queryProblem("dropNamespace", new URLSearchParams("recursive=true")).status, 400);
    assert.equal(queryProblem("dropTable", new URLSearchParams("force=true")).status, 400);
    assert.equal(queryProblem("dropTable", new URLSearchParams("purgeRequested=true")), null);
  });

  test("registerTable inside the catalog bucket; commitTransaction with unique tables", () => {
    assert.equal(registerTableProblem({ name: "t", "metadata-location": "s3://wh/ns/t/metadata/v1.metadata.json" }, "wh"), null);
    assert.equal(registerTableProblem({ name: "t", "metadata-location": "s3://raw/x.metadata.json" }, "wh").status, 400);
    const change = (name) => ({ identifier: { namespace: ["ns"], name }, requirements: [], updates: [] });
    assert.equal(transactionProblem({ "table-changes": [change("a"), change("b")] }), null);
    assert.equal(transactionProblem({ "table-changes": [change("a"), change("a")] }).status, 400);
    assert.equal(transactionProblem({ "table-changes": Array.from({ length: 7501 }, (_, i) => change(`t${i}`)) }).status, 400);
  });

  test("headers R2 ignores are not forwarded", () => {
    const out = forwardableHeaders(
      { Authorization: "Bearer x", "Idempotency-Key": "k", "If-None-Match": "*", Connection: "keep-alive", "Content-Type": "application/json" },
      ["authorization", "idempotency-key", "if-none-match"],
    );
    assert.deepEqual(out, { "content-type": "application/json" });
  });
});

describe("authentication", () => {
  test("the static token; a read-only token may not write; minted tokens until they expire; else 401", () => {
    const clock = new FakeClock();
    const auth = new ClientAuth({ token: "static", readOnlyToken: "reader", now: clock.now });
    assert.equal(auth.check("Bearer static", { write: true }), null);
    assert.equal(auth.check("Bearer reader", { write: false }), null);
    assert.equal(auth.check("Bearer reader", { write: true }).status, 403);
    assert.equal(auth.check(undefined, { write: false }).status, 401);
    assert.equal(auth.check("Basic c3RhdGlj", { write: false }).status, 401);
    assert.equal(auth.check("Bearer statik", { write: false }).status, 401);
    auth.rememberMinted("minted", 60);
    assert.equal(auth.check("Bearer minted", { write: true }), null);
    clock.advance(60_000);
    assert.equal(auth.check("Bearer minted", { write: true }).status, 401, "expired");
  });
});

describe("faults and configuration", () => {
  test("faults fire for their table, in order, count times", () => {
    const faults = new Faults();
    faults.add({ kind: "fail", table: "ns.a", count: 2 });
    faults.add({ kind: "lose-answer" });
    assert.equal(faults.take(["ns.b"]).kind, "lose-answer");
    assert.equal(faults.take(["ns.a"]).kind, "fail");
    assert.equal(faults.take(["ns.a"]).kind, "fail");
    assert.equal(faults.take(["ns.a"]), null);
    assert.throws(() => parseFault({ kind: "explode" }), /kind/);
    assert.throws(() => parseFault({ kind: "fail", status: 404 }), /5xx/);
    assert.throws(() => parseFault({ kind: "delay" }), /ms/);
  });

  test("environment knobs override the documented values; bad values name the variable", () => {
    const base = { ICEPIPE_STACK_R2_PORT: "1", ICEPIPE_STACK_R2_UPSTREAM: "http://u", ICEPIPE_STACK_KEY: "k", ICEPIPE_STACK_SECRET: "s", ICEPIPE_STACK_TOKEN: "t" };
    const plain = configFromEnv(base);
    assert.deepEqual(plain.limits, DOCUMENTED_LIMITS);
    assert.equal(plain.commitLatencyMs, 250);
    assert.equal(plain.requestTimeoutMs, 40_000);
    const tuned = configFromEnv({
      ...base,
      ICEPIPE_STACK_R2_WINDOW_SECONDS: "1.5",
      ICEPIPE_STACK_R2_CREATES_PER_CATALOG: "off",
      ICEPIPE_STACK_R2_UPDATE_TABLE_PER_TABLE: "5",
      ICEPIPE_STACK_R2_COMMIT_LATENCY_MS: "0",
      ICEPIPE_STACK_R2_OAUTH: "off",
      ICEPIPE_STACK_R2_CONCURRENT_UPDATE_ERROR: "off",
    });
    assert.equal(tuned.concurrentUpdateError, false);
    assert.equal(tuned.limits.windowMs, 1500);
    assert.equal(tuned.limits.createsPerCatalog, null);
    assert.equal(tuned.limits.updateTablePerTable, 5);
    assert.equal(tuned.commitLatencyMs, 0);
    assert.equal(tuned.oauth, false);
    assert.throws(() => configFromEnv({ ...base, ICEPIPE_STACK_R2_WRITES_PER_CATALOG: "0" }), /ICEPIPE_STACK_R2_WRITES_PER_CATALOG/);
    assert.throws(() => configFromEnv({ ...base, ICEPIPE_STACK_TOKEN: "" }), /ICEPIPE_STACK_TOKEN/);
  });
});

describe("replay of a request log", () => {
  const line = (t, method, path, op, tables, status = 200) => JSON.stringify({ t: new Date(t).toISOString(), method, path, op, tables, status });
  const commitLine = (t) => line(t, "POST", "/v1/wh/namespaces/ns/tables/a", "updateTable", ["ns.a"]);

  test("25 commits to one table, 1 s apart: all 25 in one window, one 429 and one 60 s wait on the documented limits", () => {
    const lines = Array.from({ length: 25 }, (_, i) => commitLine(i * 1000));
    lines.push(line(0, "GET", "/v1/wh/namespaces/ns/tables/a", "loadTable", ["ns.a"]), line(0, "POST", "/v1/wh/namespaces/ns/tables/a", "updateTable", ["ns.a"], 401), "not json");
    const writes = writesOf(lines);
    assert.equal(writes.length, 25, "reads, 401s and noise are not writes");
    const r = rates(writes);
    assert.equal(r.busiestTable.max, 25);
    assert.equal(r.maxPerWindow["writes-per-catalog"], 25);
    assert.deepEqual(replay(writes), { refused: { "updateTable-per-table": 1 }, waitSeconds: 60 });
  });

  test("creates: 12 createTable at once wait one window", () => {
    const lines = Array.from({ length: 12 }, (_, i) => line(i, "POST", "/v1/wh/namespaces/ns/tables", "createTable", []));
    assert.deepEqual(replay(writesOf(lines)), { refused: { "creates-per-catalog": 1 }, waitSeconds: 60 });
  });
});
