// A JSONPlaceholder-shaped HTTP API for the demo, the end-to-end tests and the benchmarks (no
// internet needed, no npm dependencies).
//
//   node harness/sample_api.mjs [--host 127.0.0.1] [--port 8790] [--users 10] [--posts 100]
//                               [--comments-per-post 5] [--seed 1]
//
// Prints {"event":"listening","url":"http://127.0.0.1:8790"} when ready (--port 0 picks a free
// port); stops on SIGTERM/SIGINT. In-process: `await startSampleApi(opts)`.
//
// Routes: GET /posts, /comments, /users (`_page` 1-based, `_limit` default 10 max 1000,
// `updated_at_gte=<ISO>`; sorted by (updated_at, id); `X-Total-Count` = matching records),
// GET /health, POST /_admin/append?posts=N, POST /_admin/update?posts=ID,... and
// POST /_admin/delete?posts=ID,... (each answers {"posts": [{id, updated_at, deleted, revision}]}).
//
// Records are computed from their id and the seed, never stored: `--posts 1000000` costs no
// memory. `updated_at` strictly increases with id, so the filter is a binary search and appended
// posts (and their comments) are later than everything before them.
//
// Updates and deletes (posts only) are how a real API shows changes to a cursor-based pull: the
// changed post moves to an `updated_at` later than every record before it, so the next
// `updated_at_gte` pull sees it. An update gives the post a new title (revision N, computed from
// id, N and the seed); a delete keeps the post listed with `"deleted": true` (a soft delete: the
// key exists on deleted posts only, as such markers usually do), and an update after a delete
// brings the post back. Only changed ids are stored (a small overlay); their comments stay as
// they were. Posts appended after a change are later than the change.
import http from "node:http";
import { pathToFileURL } from "node:url";

export const DEFAULTS = Object.freeze({ host: "127.0.0.1", port: 8790, users: 10, posts: 100, commentsPerPost: 5, seed: 1 });
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 1000;
const MAX_APPEND = 10_000_000;
const MAX_CHANGE = 10_000; // ids per update/delete request

// ---- Deterministic pseudo-randomness: one small generator per (seed, resource, id). ----

const STREAM = { posts: 1, comments: 2, users: 3, tags: 4, revisions: 5 };

function mix32(a, b) {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** mulberry32 seeded from (seed, stream, id): the same inputs always give the same sequence. */
function rng(seed, stream, id) {
  let state = mix32(mix32(seed, stream), id);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Plain ASCII words without quotes or backslashes: safe to splice into JSON strings as they are.
const WORDS = (
  "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore " +
  "magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo " +
  "consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint " +
  "occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum"
).split(" ");
const FIRST = "Leanne Ervin Clementine Patricia Chelsey Dennis Kurtis Nicholas Glenna Clementina Eliseo Jayne Nikita Hayden Lew".split(" ");
const LAST = "Graham Howell Bauch Lebsack Dietrich Schulist Weissnat Runolfsdottir Reichert DuBuque Gardner Kuhn Nienow Althea".split(" ");
const CITIES = "Gwenborough Wisokyburgh McKenziehaven SouthElvis Roscoeview SouthChristy Howemouth Aliyaview Bartholomebury Lebsackbury".split(" ");
const STREETS = "Kulas Victor Douglas Hoeger Skiles Norberto Rex Ellsworth Dayna Kattie".split(" ");
const DOMAINS = "april.biz melissa.tv yesenia.net kory.org annie.ca jasper.info billy.biz rosamond.me dana.io elvis.io".split(" ");
const TAGS = "news tech travel food science sports music art health finance".split(" ");

const pick = (next, list) => list[Math.floor(next() * list.length)];
const words = (next, min, max) => {
  const n = min + Math.floor(next() * (max - min + 1));
  let out = pick(next, WORDS);
  for (let i = 1; i < n; i++) out += " " + pick(next, WORDS);
  return out;
};
const digits = (next, n) => {
  let out = "";
  for (let i = 0; i < n; i++) out += Math.floor(next() * 10);
  return out;
};

// ---- Timestamps: strictly increasing in id, computed without state. ----

const BASE_MS = Date.UTC(2024, 0, 1);
const STEP_MS = 60_000; // one post per minute
const HALF_MS = STEP_MS / 2; // a post lands in the first half of its minute, its comments in the second
const USERS_BASE_MS = Date.UTC(2023, 0, 1);

/** First index in the sorted array `xs` whose `key(x)` is >= `value` (xs.length when none). */
function lowerBound(xs, value, key = (x) => x) {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(xs[mid]) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The changed posts: id -> {revision, deleted, ms}. Each change gets an `updated_at` later than
 * every record so far, so the changes sorted by time are the changes in the order they were made.
 */
class Overlay {
  constructor() {
    this.changes = new Map();
    this.ids = []; // changed ids, ascending
    this.byTime = []; // changed ids, by their updated_at ascending
    this.lastMs = -Infinity;
  }

  get(id) {
    return this.changes.get(id);
  }

  set(id, change) {
    if (!this.changes.has(id)) this.ids.splice(lowerBound(this.ids, id), 0, id);
    else this.byTime.splice(this.byTime.indexOf(id), 1);
    this.changes.set(id, change);
    this.byTime.push(id);
    this.lastMs = change.ms;
  }

  /** How many changed ids are in [from, to]. */
  countIds(from, to) {
    return to < from ? 0 : lowerBound(this.ids, to + 1) - lowerBound(this.ids, from);
  }
}

const NO_CHANGES = new Overlay();

/** The shape of the data set: counts, the seed and the changed posts. `posts` grows with appends. */
class Dataset {
  constructor({ users, posts, commentsPerPost, seed }) {
    this.users = users;
    this.initialPosts = posts;
    this.posts = posts;
    this.commentsPerPost = commentsPerPost;
    this.seed = seed;
    // Comments of one post split the second half of its minute into equal slots.
    this.commentSlotMs = commentsPerPost > 0 ? Math.floor(HALF_MS / commentsPerPost) : 0;
    this.postsPerUser = Math.max(1, Math.ceil(posts / users));
    this.overlay = new Overlay();
    // Posts appended after a change start later than the change: from `firstId` on, every post
    // (and its comments) moves `offsetMs` later. One entry per such append.
    this.segments = [{ firstId: 1, offsetMs: 0 }];
  }

  count(resource) {
    if (resource === "posts") return this.posts;
    if (resource === "comments") return this.posts * this.commentsPerPost;
    return this.users;
  }

  changes(resource) {
    return resource === "posts" ? this.overlay : NO_CHANGES;
  }

  offsetMs(postId) {
    for (let i = this.segments.length - 1; ; i--) if (postId >= this.segments[i].firstId) return this.segments[i].offsetMs;
  }

  /** The record's `updated_at` as computed from its id (a changed post's own is in the overlay). */
  updatedAtMs(resource, id) {
    if (resource === "posts") {
      return BASE_MS + id * STEP_MS + this.offsetMs(id) + Math.floor(rng(this.seed, STREAM.posts, id)() * HALF_MS);
    }
    if (resource === "comments") {
      const postId = Math.ceil(id / this.commentsPerPost);
      const slot = (id - 1) % this.commentsPerPost;
      const jitter = Math.floor(rng(this.seed, STREAM.comments, id)() * this.commentSlotMs);
      return BASE_MS + postId * STEP_MS + this.offsetMs(postId) + HALF_MS + slot * this.commentSlotMs + jitter;
    }
    return USERS_BASE_MS + id * STEP_MS + Math.floor(rng(this.seed, STREAM.users, id)() * HALF_MS);
  }

  appendPosts(n) {
    const firstId = this.posts + 1;
    const startMs = BASE_MS + firstId * STEP_MS + this.offsetMs(firstId);
    if (this.overlay.lastMs >= startMs) {
      // Whole minutes, so the new posts keep the minute layout (post, then its comments).
      const shift = Math.ceil((this.overlay.lastMs + 1 - startMs) / STEP_MS) * STEP_MS;
      this.segments.push({ firstId, offsetMs: this.offsetMs(firstId) + shift });
    }
    this.posts += n;
    return this.posts;
  }

  /**
   * Updates (`deleted` false: a new revision, which also brings a deleted post back) or deletes
   * posts, in the order given; each gets an `updated_at` later than every record before it.
   */
  changePosts(ids, { deleted }) {
    const bad = ids.find((id) => !Number.isInteger(id) || id < 1 || id > this.posts);
    if (bad !== undefined) throw new NotFound(`no post ${bad} (posts are 1..${this.posts})`);
    // Past the last post's minute (its comments included): later than every record.
    const endMs = BASE_MS + (this.posts + 1) * STEP_MS + this.offsetMs(this.posts);
    return ids.map((id) => {
      const before = this.overlay.get(id) ?? { revision: 0, deleted: false };
      const ms = Math.max(this.overlay.lastMs + 1, endMs);
      const change = { revision: before.revision + (deleted ? 0 : 1), deleted, ms };
      this.overlay.set(id, change);
      return { id, updated_at: new Date(ms).toISOString(), deleted, revision: change.revision };
    });
  }

  /** The first id whose computed updated_at is >= `ms` (count + 1 when none): binary search. */
  firstIdAtOrAfter(resource, ms) {
    let lo = 1;
    let hi = this.count(resource) + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.updatedAtMs(resource, mid) < ms) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  json(resource, id) {
    if (resource === "posts") return this.postJson(id);
    if (resource === "comments") return this.commentJson(id);
    return this.userJson(id);
  }

  postJson(id) {
    const next = rng(this.seed, STREAM.posts, id);
    next(); // the first draw is the timestamp jitter
    const userId = (Math.floor((id - 1) / this.postsPerUser) % this.users) + 1;
    const change = this.overlay.get(id);
    let title = words(next, 3, 8);
    if (change?.revision) title = words(rng(this.seed, STREAM.revisions, mix32(id, change.revision)), 3, 8);
    let body = words(next, 6, 10);
    for (let line = 1; line < 4; line++) body += "\\n" + words(next, 6, 10);
    const updatedAt = new Date(change?.ms ?? this.updatedAtMs("posts", id)).toISOString();
    const deleted = change?.deleted ? ',"deleted":true' : "";
    return `{"userId":${userId},"id":${id},"title":"${title}","body":"${body}","updated_at":"${updatedAt}","tags":${this.tagsJson(id)}${deleted}}`;
  }

  tagsJson(postId) {
    const next = rng(this.seed, STREAM.tags, postId);
    const n = Math.floor(next() * 4);
    if (n === 0) return "[]";
    const parts = [];
    for (let i = 0; i < n; i++) {
      // Always two decimals, so every weight reads as a float.
      const weight = ((1 + Math.floor(next() * 100)) / 100).toFixed(2);
      parts.push(`{"name":"${pick(next, TAGS)}","weight":${weight}}`);
    }
    return `[${parts.join(",")}]`;
  }

  commentJson(id) {
    const next = rng(this.seed, STREAM.comments, id);
    next(); // the timestamp jitter
    const postId = Math.ceil(id / this.commentsPerPost);
    const name = words(next, 3, 6);
    const email = `${pick(next, FIRST)}.${pick(next, LAST)}@${pick(next, DOMAINS)}`.toLowerCase();
    let body = words(next, 8, 14);
    for (let line = 1; line < 3; line++) body += "\\n" + words(next, 8, 14);
    const updatedAt = new Date(this.updatedAtMs("comments", id)).toISOString();
    return `{"postId":${postId},"id":${id},"name":"${name}","email":"${email}","body":"${body}","updated_at":"${updatedAt}"}`;
  }

  userJson(id) {
    const next = rng(this.seed, STREAM.users, id);
    next(); // the timestamp jitter
    const first = pick(next, FIRST);
    const last = pick(next, LAST);
    const username = `${first}${id}`;
    const domain = pick(next, DOMAINS);
    const lat = ((next() * 180 - 90).toFixed(4));
    const lng = ((next() * 360 - 180).toFixed(4));
    const address =
      `{"street":"${pick(next, STREETS)} Light","suite":"Apt. ${digits(next, 3)}","city":"${pick(next, CITIES)}",` +
      `"zipcode":"${digits(next, 5)}-${digits(next, 4)}","geo":{"lat":"${lat}","lng":"${lng}"}}`;
    const company = `{"name":"${pick(next, LAST)}-${pick(next, LAST)}","catchPhrase":"${words(next, 3, 5)}","bs":"${words(next, 3, 4)}"}`;
    const updatedAt = new Date(this.updatedAtMs("users", id)).toISOString();
    return (
      `{"id":${id},"name":"${first} ${last}","username":"${username}","email":"${username.toLowerCase()}@${domain}",` +
      `"address":${address},"phone":"1-${digits(next, 3)}-${digits(next, 3)}-${digits(next, 4)}","website":"${domain}",` +
      `"company":${company},"updated_at":"${updatedAt}"}`
    );
  }
}

// ---- HTTP ----

class BadRequest extends Error {
  status = 400;
}
class NotFound extends Error {
  status = 404;
}

function positiveInt(params, name, fallback) {
  const text = params.get(name);
  if (text === null) return fallback;
  if (!/^[0-9]+$/.test(text) || Number(text) < 1) throw new BadRequest(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

/**
 * One page of `resource` for the query, sorted by updated_at (no two records share one). The
 * list is two sorted runs merged: the unchanged records (id order: their updated_at grows with
 * id) and the changed posts (overlay, by their new updated_at). Cheap at any size: a changed
 * post's place is a binary search, an unchanged record's id is counted past the changed ids.
 */
function listPage(data, resource, params) {
  const page = positiveInt(params, "_page", 1);
  const limit = Math.min(positiveInt(params, "_limit", DEFAULT_LIMIT), MAX_LIMIT);
  let gteMs = -Infinity;
  const gte = params.get("updated_at_gte");
  if (gte !== null) {
    gteMs = Date.parse(gte);
    if (Number.isNaN(gteMs)) throw new BadRequest(`updated_at_gte must be an ISO-8601 timestamp, got ${JSON.stringify(gte)}`);
  }
  const changes = data.changes(resource);
  const count = data.count(resource);
  const lo = data.firstIdAtOrAfter(resource, gteMs);
  const unchangedCount = count - lo + 1 - changes.countIds(lo, count);
  // The changed records that match, by time, and the place of the j-th of them in the list.
  const changed = changes.byTime.slice(lowerBound(changes.byTime, gteMs, (id) => changes.get(id).ms));
  const place = (j) => {
    const below = data.firstIdAtOrAfter(resource, changes.get(changed[j]).ms);
    return j + (below - lo) - changes.countIds(lo, below - 1);
  };
  const matching = unchangedCount + changed.length;
  const from = (page - 1) * limit;
  const to = Math.min(matching, from + limit);
  let j = 0;
  for (let hi = changed.length; j < hi; ) {
    const mid = (j + hi) >>> 1;
    if (place(mid) < from) j = mid + 1;
    else hi = mid;
  }
  let id = from < to ? nthUnchanged(changes, lo, from - j) : 0;
  let body = "[";
  for (let at = from; at < to; at++) {
    if (at > from) body += ",";
    if (j < changed.length && place(j) === at) {
      body += data.json(resource, changed[j++]);
    } else {
      body += data.json(resource, id);
      do id++;
      while (changes.get(id));
    }
  }
  return { body: body + "]", matching };
}

/** The id of the n-th (0-based) unchanged record from id `lo` on. */
function nthUnchanged(changes, lo, n) {
  // The smallest id with id = lo + n + (changed ids in [lo, id]): iterate up to it.
  let id = lo + n;
  for (;;) {
    const next = lo + n + changes.countIds(lo, id);
    if (next === id) return id;
    id = next;
  }
}

/** `posts=3,1,4`: the ids to change, in order, at most MAX_CHANGE. */
function postIds(params) {
  const text = params.get("posts");
  if (text === null || !/^[0-9]+(,[0-9]+)*$/.test(text)) throw new BadRequest(`posts must be a comma-separated list of post ids, got ${JSON.stringify(text)}`);
  const ids = text.split(",").map(Number);
  if (ids.length > MAX_CHANGE) throw new BadRequest(`at most ${MAX_CHANGE} posts per request, got ${ids.length}`);
  return ids;
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

function handler(data) {
  return (req, res) => {
    const url = new URL(req.url, "http://sample");
    const route = `${req.method} ${url.pathname.replace(/\/+$/, "") || "/"}`;
    try {
      switch (route) {
        case "GET /posts":
        case "GET /comments":
        case "GET /users": {
          const { body, matching } = listPage(data, url.pathname.split("/")[1], url.searchParams);
          return send(res, 200, body, { "x-total-count": String(matching) });
        }
        case "GET /health":
          return send(res, 200, JSON.stringify({ status: "ok", users: data.users, posts: data.posts, comments: data.count("comments") }));
        case "POST /_admin/append": {
          const n = positiveInt(url.searchParams, "posts", null);
          if (n === null || n > MAX_APPEND) throw new BadRequest(`posts must be a positive integer up to ${MAX_APPEND}`);
          return send(res, 200, JSON.stringify({ posts: data.appendPosts(n) }));
        }
        case "POST /_admin/update":
        case "POST /_admin/delete": {
          const deleted = url.pathname.endsWith("delete");
          return send(res, 200, JSON.stringify({ posts: data.changePosts(postIds(url.searchParams), { deleted }) }));
        }
        default:
          return send(res, 404, JSON.stringify({ error: `no route ${route}` }));
      }
    } catch (e) {
      if (e instanceof BadRequest || e instanceof NotFound) return send(res, e.status, JSON.stringify({ error: e.message }));
      console.error(e);
      return send(res, 500, JSON.stringify({ error: "internal error" }));
    }
  };
}

function checkOptions(opts) {
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts ?? {}).filter(([, v]) => v !== undefined)) };
  const int = (name, min, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isInteger(o[name]) || o[name] < min || o[name] > max) throw new Error(`${name} must be an integer in [${min}, ${max}], got ${o[name]}`);
  };
  int("port", 0, 65535);
  int("users", 1);
  int("posts", 0);
  // At least one millisecond per comment slot keeps comment timestamps strictly increasing.
  int("commentsPerPost", 0, HALF_MS);
  int("seed", 0, 0xffffffff);
  return o;
}

/**
 * Starts the API. opts: {host, port, users, posts, commentsPerPost, seed} (DEFAULTS for the rest).
 * Returns {url, close(), appendPosts(n), updatePosts(ids), deletePosts(ids)}: appendPosts returns
 * the new number of posts; updatePosts and deletePosts the changes, as the admin routes answer
 * ([{id, updated_at, deleted, revision}]), and throw on an unknown id.
 */
export async function startSampleApi(opts = {}) {
  const o = checkOptions(opts);
  const data = new Dataset(o);
  const server = http.createServer({ keepAlive: true }, handler(data));
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address();
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    appendPosts(n) {
      if (!Number.isInteger(n) || n < 1 || n > MAX_APPEND) throw new Error(`appendPosts: n must be an integer in [1, ${MAX_APPEND}]`);
      return data.appendPosts(n);
    },
    updatePosts: (ids) => data.changePosts(ids, { deleted: false }),
    deletePosts: (ids) => data.changePosts(ids, { deleted: true }),
  };
}

const FLAGS = { "--host": "host", "--port": "port", "--users": "users", "--posts": "posts", "--comments-per-post": "commentsPerPost", "--seed": "seed" };

export function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const name = FLAGS[flag];
    if (!name) throw new Error(`unknown argument ${argv[i]}; expected ${Object.keys(FLAGS).join(", ")}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    opts[name] = name === "host" ? value : /^[0-9]+$/.test(value) ? Number(value) : NaN;
  }
  return opts;
}

async function main() {
  let api;
  try {
    api = await startSampleApi(parseArgs(process.argv.slice(2)));
  } catch (e) {
    console.error(`sample_api: ${e.message}`);
    process.exit(2);
  }
  const stop = async () => {
    await api.close();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  process.stdout.write(JSON.stringify({ event: "listening", url: api.url }) + "\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
