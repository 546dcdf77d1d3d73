// The ingest Worker in workerd (Miniflare) against an API that misbehaves without failing a
// request: a redirect to another host (an internal service, say) is refused and nothing from it
// lands; a redirect within the configured host is followed; a page that repeats stops the paging.
// And a pushed record far wider than usual (2,000 keys) stays inside the Worker's 128 MB; one past
// the column limit (100,000 keys) or the nesting limit is refused naming it, and the Worker stays
// healthy for the next push.
// The Worker's fetch does not follow redirects itself (`redirect: "manual"`): the core decides.
//
// Needs: scripts/build-workers ingest (no stack: only the RAW bucket is involved).
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { startIngest, workerBuild } from "../lib/miniflare.mjs";
import { SAMPLE_SOURCE } from "../lib/pipeline.mjs";

/** A loopback HTTP server answering with `route(req, url)` ({status, headers, body}); it records requests. */
async function serve(route) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    requests.push({ method: req.method, url: req.url, headers: req.headers });
    const { status = 200, headers = {}, body = "" } = route(req, url);
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const POSTS = [
  { id: 1, title: "a", updated_at: "2024-01-01T00:01:00Z" },
  { id: 2, title: "b", updated_at: "2024-01-01T00:02:00Z" },
];

let internal;
let api;
let ingest;

before(async () => {
  assert.ok(workerBuild("ingest"), "crates/ingest/build missing: run scripts/build-workers ingest");
  // The host the API must never send us to; any request it gets is a failure.
  internal = await serve(() => ({ body: [{ id: 666, name: "internal data" }] }));
  api = await serve((req, url) => {
    switch (url.pathname) {
      case "/users": // another origin (another port): refused
        return { status: 302, headers: { location: `${internal.url}/users?_limit=1000` } };
      case "/posts": // the same origin: followed
        return { status: 301, headers: { location: `/v2/posts${url.search}` } };
      case "/v2/posts":
        return { body: url.searchParams.get("_page") === "1" ? POSTS : [] };
      case "/comments": // ignores the page parameter: the same page forever
        return { body: [{ id: 7, body: "again", updated_at: "2024-01-01T00:00:00Z" }] };
      default:
        return { status: 404, body: { error: "no route" } };
    }
  });
  ingest = await startIngest({ baseUrls: { [SAMPLE_SOURCE]: api.url } });
});

after(async () => {
  await ingest?.dispose();
  await api?.close();
  await internal?.close();
});

async function run(resource) {
  const r = await ingest.fetch(`/sources/${SAMPLE_SOURCE}/run?resource=${resource}`, { method: "POST" });
  return { status: r.status, report: await r.json() };
}

async function rawKeys(prefix) {
  const listed = await ingest.raw.list({ prefix });
  return listed.objects.map((o) => o.key);
}

describe("ingest Worker in workerd against a misbehaving API", () => {
  test("a redirect to another host is refused: 502 naming the URL and the host, nothing fetched there, nothing landed", { timeout: 60_000 }, async () => {
    const { status, report } = await run("users");
    assert.equal(status, 502, JSON.stringify(report));
    const users = report.resources.find((r) => r.resource === "users");
    assert.match(users.error, new RegExp(`GET ${api.url}/users\\?_limit=1000 answered HTTP 302 redirecting to another host ${internal.url}: refused`));
    assert.deepEqual(users.files, []);
    assert.deepEqual(internal.requests, [], "the other host was never asked");
    assert.deepEqual(await rawKeys(`sources/${SAMPLE_SOURCE}/users/`), []);
    assert.deepEqual(await rawKeys("_state/"), []);
  });

  test("a redirect within the configured host is followed and its records land", { timeout: 60_000 }, async () => {
    const { status, report } = await run("posts");
    assert.equal(status, 200, JSON.stringify(report));
    const posts = report.resources.find((r) => r.resource === "posts");
    assert.equal(posts.rows, 2);
    assert.equal(posts.files.length, 1);
    assert.deepEqual(await rawKeys(`sources/${SAMPLE_SOURCE}/posts/`), posts.files);
    const redirected = api.requests.filter((r) => r.url.startsWith("/v2/posts"));
    assert.ok(redirected.length >= 1, JSON.stringify(api.requests));
  });

  test("a page that repeats the previous one stops the paging with an error naming the URL", { timeout: 60_000 }, async () => {
    const { status, report } = await run("comments");
    assert.equal(status, 502, JSON.stringify(report));
    const comments = report.resources.find((r) => r.resource === "comments");
    assert.match(comments.error, /pagination stopped at http:\/\/127\.0\.0\.1:\d+\/comments\?[^ ]*_page=2[^ ]*: the page repeats the previous page/);
    assert.equal(comments.pages, 1);
    assert.equal(api.requests.filter((r) => r.url.startsWith("/comments")).length, 2);
    // The page fetched first is stored (and its columns recorded); the cursor does not move.
    assert.deepEqual(await rawKeys(`_state/${SAMPLE_SOURCE}/comments.json`), [], "the cursor did not move");
  });

  test("a pushed record of 2,000 keys lands as one 2,000-column file under 128 MiB of wasm memory", { timeout: 120_000 }, async () => {
    const KEYS = 2_000;
    const record = (i) => {
      const r = { id: i };
      for (let k = 0; k < KEYS - 1; k++) r[`field_${k}`] = k % 3 === 0 ? i * k : k % 3 === 1 ? `v${i}-${k}` : i + k / 8;
      return r;
    };
    const body = Array.from({ length: 50 }, (_, i) => JSON.stringify(record(i))).join("\n");
    const r = await ingest.fetch("/events/app/wide", { method: "POST", headers: { "content-type": "application/x-ndjson" }, body });
    const answer = await r.json();
    assert.equal(r.status, 200, JSON.stringify(answer).slice(0, 2000));
    assert.equal(answer.rows, 50);
    assert.equal(answer.files.length, 1);
    assert.deepEqual(await rawKeys("sources/app/wide/"), answer.files);
    const health = await (await ingest.fetch("/health")).json();
    process.stderr.write(`# ingest Worker, ${KEYS}-key push: wasm memory ${(health.wasm_memory_bytes / 1048576).toFixed(1)} MiB\n`);
    assert.ok(health.wasm_memory_bytes > 0 && health.wasm_memory_bytes < 128 * 1048576, `wasm memory ${health.wasm_memory_bytes} bytes is not under 128 MiB`);
  });

  test("a pushed record of 100,000 keys is refused with 400 naming the column limit, nothing lands, and the next push succeeds", { timeout: 120_000 }, async () => {
    const record = { id: 1 };
    for (let k = 0; k < 100_000; k++) record[`k${k}`] = k;
    const r = await ingest.fetch("/events/app/huge", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify([record]) });
    const answer = await r.json();
    assert.equal(r.status, 400, JSON.stringify(answer).slice(0, 2000));
    assert.match(answer.error, /record 0 of huge, in table huge, goes past 2048 columns, the maximum per table \(MAX_COLUMNS\), at column /);
    assert.deepEqual(await rawKeys("sources/app/huge/"), [], "nothing of the refused push landed");
    const health = await ingest.fetch("/health");
    const body = await health.json();
    assert.equal(health.status, 200, JSON.stringify(body));
    process.stderr.write(`# ingest Worker after a 100,000-key push: wasm memory ${(body.wasm_memory_bytes / 1048576).toFixed(1)} MiB\n`);
    assert.ok(body.wasm_memory_bytes < 128 * 1048576, `wasm memory ${body.wasm_memory_bytes} bytes is not under 128 MiB`);
    const next = await ingest.fetch("/events/app/huge", { method: "POST", body: JSON.stringify({ id: 2, name: "normal" }) });
    const landed = await next.json();
    assert.equal(next.status, 200, JSON.stringify(landed));
    assert.equal(landed.rows, 1);
    assert.deepEqual(await rawKeys("sources/app/huge/"), landed.files);
  });

  test("a pushed record nested past the nesting limit is refused with 400 naming it; at the limit it lands", { timeout: 60_000 }, async () => {
    const nest = (depth) => Array.from({ length: depth }).reduce((inner) => [inner], 1);
    const refused = await ingest.fetch("/events/app/deep", { method: "POST", body: JSON.stringify({ id: 1, deep: nest(33) }) });
    const error = await refused.json();
    assert.equal(refused.status, 400, JSON.stringify(error));
    assert.match(error.error, /field "deep" of record 0 of deep is nested 33 levels deep .*more than the maximum of 32 \(MAX_NESTING_DEPTH\)/);
    assert.deepEqual(await rawKeys("sources/app/deep/"), []);
    const accepted = await ingest.fetch("/events/app/deep", { method: "POST", body: JSON.stringify({ id: 2, deep: nest(32) }) });
    assert.equal(accepted.status, 200, JSON.stringify(await accepted.json()));
  });
});
