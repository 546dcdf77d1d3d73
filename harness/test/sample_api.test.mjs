// The bundled sample API (harness/sample_api.mjs): paging, filter, append, update/delete,
// determinism, CLI.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { boundedFetch, within } from "../lib/bounded.mjs";
import { startSampleApi } from "../sample_api.mjs";

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "sample_api.mjs");
// Every test here takes well under a second; the limit only turns a hang into a failure.
const TIMEOUT = { timeout: 30_000 };

async function get(api, route, init = {}) {
  const res = await boundedFetch(api.url + route, init, { timeoutMs: 10_000, what: `${init.method ?? "GET"} ${route} on the sample API` });
  return { status: res.status, total: res.headers.get("x-total-count"), text: await res.text() };
}

/** Runs `fn(child)` for a CLI child process and kills the child if it is still running after. */
async function withCli(args, stdio, fn) {
  const child = spawn(process.execPath, [SCRIPT, ...args], { stdio });
  try {
    await fn(child);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

async function getJson(api, route) {
  const { status, text } = await get(api, route);
  assert.equal(status, 200, text);
  return JSON.parse(text);
}

const ids = (records) => records.map((r) => r.id);

describe("sample API", () => {
  let api;
  before(async () => {
    api = await startSampleApi({ port: 0, posts: 30, users: 4, commentsPerPost: 3, seed: 7 });
  }, TIMEOUT);
  after(() => within(10_000, "the sample API to close", api.close()), TIMEOUT);

  test("pages are 1-based, _limit defaults to 10, past the end is []", TIMEOUT, async () => {
    assert.deepEqual(ids(await getJson(api, "/posts")), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(ids(await getJson(api, "/posts?_page=2&_limit=12")), [13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    assert.deepEqual(ids(await getJson(api, "/posts?_page=3&_limit=12")), [25, 26, 27, 28, 29, 30]);
    assert.deepEqual(await getJson(api, "/posts?_page=4&_limit=12"), []);
    assert.equal((await getJson(api, "/comments?_limit=1000")).length, 90);
    assert.equal((await get(api, "/posts?_page=0")).status, 400);
    assert.equal((await get(api, "/nope")).status, 404);
  });

  test("records have the JSONPlaceholder fields, updated_at and tags", TIMEOUT, async () => {
    const [post] = await getJson(api, "/posts?_limit=1");
    assert.deepEqual(Object.keys(post), ["userId", "id", "title", "body", "updated_at", "tags"]);
    assert.ok(Array.isArray(post.tags) && post.tags.length <= 3);
    const allTags = (await getJson(api, "/posts?_limit=1000")).flatMap((p) => p.tags);
    assert.ok(allTags.length > 0);
    for (const tag of allTags) assert.ok(typeof tag.name === "string" && typeof tag.weight === "number", JSON.stringify(tag));
    const [comment] = await getJson(api, "/comments?_limit=1");
    assert.deepEqual(Object.keys(comment), ["postId", "id", "name", "email", "body", "updated_at"]);
    const users = await getJson(api, "/users");
    assert.deepEqual(ids(users), [1, 2, 3, 4]);
    assert.deepEqual(Object.keys(users[0]), ["id", "name", "username", "email", "address", "phone", "website", "company", "updated_at"]);
    assert.ok(users[0].address.geo.lat && users[0].company.catchPhrase);
    for (const resource of ["posts", "comments", "users"]) {
      const stamps = (await getJson(api, `/${resource}?_limit=1000`)).map((r) => r.updated_at);
      assert.ok(stamps.every((s) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(s)), resource);
      assert.ok(stamps.every((s, i) => i === 0 || stamps[i - 1] < s), `${resource}: updated_at strictly increases`);
    }
  });

  test("updated_at_gte filters, then pages", TIMEOUT, async () => {
    const all = await getJson(api, "/posts?_limit=1000");
    const from = all[17].updated_at;
    const filtered = await get(api, `/posts?updated_at_gte=${from}&_limit=5`);
    assert.equal(filtered.total, "13");
    assert.deepEqual(ids(JSON.parse(filtered.text)), [18, 19, 20, 21, 22]);
    assert.deepEqual(ids(await getJson(api, `/posts?updated_at_gte=${from}&_limit=5&_page=3`)), [28, 29, 30]);
    // Between two records: starts at the later one.
    const between = new Date(Date.parse(from) - 1).toISOString();
    assert.deepEqual(ids(await getJson(api, `/posts?updated_at_gte=${between}&_limit=1`)), [18]);
    assert.deepEqual(await getJson(api, "/posts?updated_at_gte=2999-01-01T00:00:00Z"), []);
    assert.equal((await get(api, "/posts?updated_at_gte=yesterday")).status, 400);
  });

  test("append adds later posts and their comments", TIMEOUT, async () => {
    const other = await startSampleApi({ port: 0, posts: 10, commentsPerPost: 2 });
    try {
      const before = await getJson(other, "/posts?_limit=1000");
      const lastComment = (await getJson(other, "/comments?_limit=1000")).at(-1);
      const res = await get(other, "/_admin/append?posts=3", { method: "POST" });
      assert.deepEqual(JSON.parse(res.text), { posts: 13 });
      assert.equal(other.appendPosts(2), 15);
      const fresh = await getJson(other, `/posts?updated_at_gte=${before.at(-1).updated_at}&_limit=1000`);
      assert.deepEqual(ids(fresh), [10, 11, 12, 13, 14, 15]);
      assert.ok(fresh.slice(1).every((p) => p.updated_at > before.at(-1).updated_at));
      const comments = await getJson(other, `/comments?updated_at_gte=${lastComment.updated_at}&_limit=1000`);
      assert.deepEqual(ids(comments), [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
      // Records before the append are unchanged.
      assert.deepEqual(await getJson(other, "/posts?_limit=1000&_page=1").then((p) => p.slice(0, 10)), before);
    } finally {
      await other.close();
    }
  });

  test("update gives posts a new revision, later than everything; delete marks them; update after delete brings a post back", TIMEOUT, async () => {
    const other = await startSampleApi({ port: 0, posts: 10, commentsPerPost: 2, seed: 3 });
    try {
      const before = await getJson(other, "/posts?_limit=1000");
      const latest = (await getJson(other, "/comments?_limit=1000")).at(-1).updated_at;
      const post = (list, id) => list.find((p) => p.id === id);

      const updated = JSON.parse((await get(other, "/_admin/update?posts=7,3", { method: "POST" })).text);
      assert.deepEqual(updated.posts.map(({ id, deleted, revision }) => [id, deleted, revision]), [[7, false, 1], [3, false, 1]]);
      assert.ok(updated.posts[0].updated_at > latest, "an update is later than every record before it");
      assert.ok(updated.posts[1].updated_at > updated.posts[0].updated_at, "changes are ordered");
      const deleted = JSON.parse((await get(other, "/_admin/delete?posts=5", { method: "POST" })).text);
      assert.deepEqual(deleted.posts.map(({ id, deleted, revision }) => [id, deleted, revision]), [[5, true, 0]]);

      // Every post is still listed once, in updated_at order: the changed ones last.
      const after = await getJson(other, "/posts?_limit=1000");
      assert.deepEqual(ids(after), [1, 2, 4, 6, 8, 9, 10, 7, 3, 5]);
      assert.ok(after.every((p, i) => i === 0 || after[i - 1].updated_at < p.updated_at));
      for (const id of [1, 2, 4, 6, 8, 9, 10]) assert.deepEqual(post(after, id), post(before, id), `post ${id} unchanged`);
      // An update changes the title and updated_at, nothing else; a delete adds the marker.
      for (const [id, change] of [[7, updated.posts[0]], [3, updated.posts[1]]]) {
        const { title, updated_at, ...rest } = post(after, id);
        const { title: oldTitle, updated_at: oldAt, ...oldRest } = post(before, id);
        assert.notEqual(title, oldTitle, `post ${id}: a new title`);
        assert.equal(updated_at, change.updated_at);
        assert.deepEqual(rest, oldRest);
      }
      assert.deepEqual(post(after, 5), { ...post(before, 5), updated_at: deleted.posts[0].updated_at, deleted: true });
      assert.deepEqual(Object.keys(post(after, 5)), ["userId", "id", "title", "body", "updated_at", "tags", "deleted"]);

      // A cursor pull sees exactly the changes; pages of any size list the same records.
      const since = await get(other, `/posts?updated_at_gte=${updated.posts[0].updated_at}&_limit=2`);
      assert.equal(since.total, "3");
      assert.deepEqual(ids(JSON.parse(since.text)), [7, 3]);
      for (const limit of [1, 3, 4]) {
        const paged = [];
        for (let page = 1; page <= 11; page++) paged.push(...(await getJson(other, `/posts?_limit=${limit}&_page=${page}`)));
        assert.deepEqual(paged, after, `pages of ${limit}`);
      }
      const filteredPaged = [];
      for (let page = 1; page <= 8; page++) filteredPaged.push(...(await getJson(other, `/posts?updated_at_gte=${before[3].updated_at}&_limit=2&_page=${page}`)));
      assert.deepEqual(ids(filteredPaged), [4, 6, 8, 9, 10, 7, 3, 5]);

      // Update after delete: back, without the marker, at a new revision; the same revision gives
      // the same title (computed, not stored), another revision another one.
      const revived = other.updatePosts([5]);
      assert.deepEqual(revived.map(({ id, deleted, revision }) => [id, deleted, revision]), [[5, false, 1]]);
      const again = other.updatePosts([3]);
      assert.equal(again[0].revision, 2);
      const final = await getJson(other, "/posts?_limit=1000");
      assert.deepEqual(ids(final), [1, 2, 4, 6, 8, 9, 10, 7, 5, 3]);
      assert.equal(post(final, 5).deleted, undefined);
      assert.notEqual(post(final, 3).title, post(after, 3).title);
      assert.equal(other.deletePosts([5])[0].deleted, true);

      // Posts appended after the changes are later than them; comments never move.
      other.appendPosts(2);
      const appended = await getJson(other, `/posts?updated_at_gte=${again[0].updated_at}&_limit=1000`);
      assert.deepEqual(ids(appended), [3, 5, 11, 12]);
      assert.ok(appended.every((p, i) => i === 0 || appended[i - 1].updated_at < p.updated_at));
      const comments = await getJson(other, "/comments?_limit=1000");
      assert.deepEqual(ids(comments), Array.from({ length: 24 }, (_, i) => i + 1));
      assert.ok(comments.every((c, i) => i === 0 || comments[i - 1].updated_at < c.updated_at));
      assert.ok(comments.at(-4).updated_at > appended[1].updated_at, "the new posts' comments come after the changes too");

      // Unknown ids are 404 and change nothing; malformed lists 400.
      const unknown = await get(other, "/_admin/update?posts=2,13", { method: "POST" });
      assert.equal(unknown.status, 404, unknown.text);
      assert.match(JSON.parse(unknown.text).error, /no post 13/);
      assert.deepEqual(await getJson(other, "/posts?_limit=1000&_page=1").then((p) => p.slice(0, 2)), final.slice(0, 2));
      for (const q of ["", "?posts=", "?posts=1,,2", "?posts=x", "?posts=-1"]) {
        assert.equal((await get(other, `/_admin/delete${q}`, { method: "POST" })).status, 400, q);
      }
      assert.throws(() => other.updatePosts([0]), /no post 0/);
    } finally {
      await other.close();
    }
  });

  test("the same arguments give byte-identical responses; another seed differs", TIMEOUT, async () => {
    const opts = { port: 0, posts: 30, users: 4, commentsPerPost: 3, seed: 7 };
    const twin = await startSampleApi(opts);
    const reseeded = await startSampleApi({ ...opts, seed: 8 });
    try {
      for (const route of ["/posts?_limit=30", "/comments?_limit=90", "/users", "/posts?updated_at_gte=2024-01-01T00:10:00Z"]) {
        assert.equal((await get(twin, route)).text, (await get(api, route)).text, route);
      }
      assert.notEqual((await get(reseeded, "/posts")).text, (await get(api, "/posts")).text);
    } finally {
      await Promise.all([twin.close(), reseeded.close()]);
    }
  });

  test("a million posts start instantly and any page is cheap", TIMEOUT, async () => {
    const big = await startSampleApi({ port: 0, posts: 1_000_000 });
    try {
      // Records are computed from their id, never materialized: the last page and a filtered
      // tail answer at once (bounded, not timed: a materializing API would blow the bound).
      const last = await within(10_000, "the last page of a million posts", getJson(big, "/posts?_limit=1000&_page=1000"));
      assert.equal(last.length, 1000);
      assert.equal(last.at(-1).id, 1_000_000);
      const tail = await within(10_000, "the comments after the last post", get(big, `/comments?updated_at_gte=${last.at(-1).updated_at}&_limit=1000`));
      assert.equal(tail.total, "5");
      // A few changes: the changed posts come last, once each, and every page stays full.
      big.updatePosts([10, 500_000]);
      big.deletePosts([999_999]);
      const changedLast = await getJson(big, "/posts?_limit=1000&_page=1000");
      assert.deepEqual(ids(changedLast.slice(-4)), [1_000_000, 10, 500_000, 999_999]);
      const middle = await getJson(big, "/posts?_limit=1000&_page=500");
      assert.deepEqual([middle.length, middle[0].id, middle.at(-1).id], [1000, 499_002, 500_002], "page 500: one moved post before it (10), one inside it (500,000)");
    } finally {
      await big.close();
    }
  });
});

test("the CLI prints its URL, serves, and stops on SIGTERM", TIMEOUT, async () => {
  await withCli(["--port", "0", "--posts=3", "--seed", "2"], ["ignore", "pipe", "inherit"], async (child) => {
    const [chunk] = await within(10_000, "the CLI to print its URL", once(child.stdout, "data"));
    const line = JSON.parse(chunk.toString().split("\n")[0]);
    assert.equal(line.event, "listening");
    assert.match(line.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const health = JSON.parse((await get(line, "/health")).text);
    assert.deepEqual(health, { status: "ok", users: 10, posts: 3, comments: 15 });
    child.kill("SIGTERM");
    const [code] = await within(10_000, "the CLI to exit after SIGTERM", once(child, "exit"));
    assert.equal(code, 0);
  });
});

test("the CLI rejects unknown arguments", TIMEOUT, async () => {
  await withCli(["--pots", "3"], ["ignore", "ignore", "pipe"], async (child) => {
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const [code] = await within(10_000, "the CLI to exit on an unknown argument", once(child, "exit"));
    assert.equal(code, 2);
    assert.match(stderr, /unknown argument --pots/);
  });
});
