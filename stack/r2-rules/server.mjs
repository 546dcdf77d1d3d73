// The rules layer: an HTTP reverse proxy in front of SeaweedFS's Iceberg REST catalog that answers
// the way R2 Data Catalog does (see README.md next to this file for the rules and the documents
// they come from). Every request goes through the same steps:
//
//   authenticate (static token; 401/403 plain text) -> refuse what R2 does not support
//   -> rate limits (writes only; 429 + Retry-After) -> request rules (400/409/501)
//   -> commits: one in flight per table (the others lose: 400 ConcurrentUpdateError), emulated
//      latency, injected faults -> SeaweedFS (loadTable without snapshots=refs / If-None-Match,
//      no Idempotency-Key) -> 40 s request timeout.
import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { ADMIN_PREFIX, handleAdmin } from "./admin.mjs";
import { icebergError, plainText, tooManyRequests } from "./answers.mjs";
import { ClientAuth, UpstreamToken } from "./auth.mjs";
import { Faults } from "./faults.mjs";
import { DOCUMENTED_LIMITS, RateLimiter } from "./limits.mjs";
import { CommitSlots } from "./overlap.mjs";
import { classify, COMMIT_OPERATIONS, identName, routeIdent, UNSUPPORTED_OPERATIONS, WRITE_OPERATIONS } from "./routes.mjs";
import { Stats } from "./stats.mjs";
import { hasObjects, parseS3Location } from "./storage.mjs";
import { forwardableHeaders, send, UpstreamUnreachable } from "./upstream.mjs";
import {
  createNamespaceProblem,
  createTableProblem,
  identityProblem,
  namespacePropertiesProblem,
  needsTableIdentity,
  queryProblem,
  registerTableProblem,
  transactionProblem,
  updatesProblem,
} from "./validate.mjs";

/** Defaults: R2's documented numbers, plus a realistic commit latency. */
export const DEFAULTS = Object.freeze({
  limits: DOCUMENTED_LIMITS,
  countRejected: false,
  // SeaweedFS commits in ~10 ms; R2 takes a few hundred. Without this, concurrent writers never overlap.
  commitLatencyMs: 250,
  // Off only while a client cannot handle R2's answer yet: overlapping commits then both go upstream.
  concurrentUpdateError: true,
  requestTimeoutMs: 40_000,
  oauth: true,
});

const MAX_BODY_BYTES = 64 * 1024 * 1024;
// Request headers R2 ignores (and the client's token): dropped so SeaweedFS cannot honour them either.
const IGNORED_REQUEST_HEADERS = ["authorization", "idempotency-key", "if-none-match"];
// loadTable "always returns all snapshots": these query parameters have no effect.
const IGNORED_LOAD_PARAMS = ["snapshots", "referenced-by"];

/**
 * The rules layer for `config`: `{ upstream, clientId, clientSecret, token, readOnlyToken?, s3?,
 * limits?, countRejected?, commitLatencyMs?, requestTimeoutMs?, oauth?, log?, now? }`. Returns
 * `{ server, state, listen(port, host), close() }`.
 */
export function createRulesServer(options) {
  const config = { ...DEFAULTS, ...options, limits: { ...DEFAULTS.limits, ...options.limits } };
  const now = config.now ?? Date.now;
  const log = config.log ?? ((entry) => process.stdout.write(`${JSON.stringify(entry)}\n`));
  const limiter = new RateLimiter({ limits: config.limits, countRejected: config.countRejected, now });
  const state = {
    config,
    limiter,
    stats: new Stats({ windowMs: limiter.limits.windowMs, now }),
    faults: new Faults(),
    slots: new CommitSlots(),
    auth: new ClientAuth({ token: config.token, readOnlyToken: config.readOnlyToken, now }),
    upstreamToken: new UpstreamToken({ uri: config.upstream, clientId: config.clientId, clientSecret: config.clientSecret, now }),
  };

  const server = http.createServer((req, res) => {
    const started = Date.now();
    readBody(req)
      .then((body) => answer(state, req, body))
      .catch((e) =>
        e instanceof UpstreamUnreachable
          ? icebergError(503, "ServiceUnavailableException", `the SeaweedFS catalog behind the rules layer is unreachable (${e.message})`)
          : icebergError(500, "InternalServerError", `rules layer: ${e.message}`),
      )
      .then((result) => {
        writeAnswer(res, result);
        if (!req.url.startsWith(ADMIN_PREFIX)) {
          log({ t: new Date(started).toISOString(), method: req.method, path: req.url.split("?")[0], op: result.op, tables: result.tables, status: result.reset ? "reset" : result.status, note: result.note, ms: Date.now() - started });
        }
      });
  });

  return {
    server,
    state,
    listen(port, host = "127.0.0.1") {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => resolve(server.address()));
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error("request body too large"));
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function writeAnswer(res, result) {
  if (result.reset) {
    res.socket?.destroy();
    return;
  }
  res.writeHead(result.status, { ...result.headers, "content-length": result.body?.length ?? 0 });
  res.end(result.body);
}

/** The answer to one request, with `op` and `tables` for the log. */
async function answer(state, req, body) {
  const url = new URL(req.url, "http://rules.local");
  if (url.pathname.startsWith(ADMIN_PREFIX)) return handleAdmin(state, req.method, url.pathname, body);
  const route = classify(req.method, url.pathname);
  const request = { req, url, route, body, json: parseJson(body), tables: [] };
  request.tables = tablesOf(route, request.json);
  state.stats.request(route);
  const result = await withinTimeout(state, request, () => catalogAnswer(state, request));
  state.stats.response(result.reset ? "reset" : result.status);
  return { ...result, op: route.operation, tables: request.tables };
}

/** R2's request timeout: past it the client gets 504 (the work upstream goes on and may still apply). */
async function withinTimeout(state, request, work) {
  const { requestTimeoutMs } = state.config;
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), requestTimeoutMs);
  });
  const pending = work();
  const result = await Promise.race([pending, deadline]);
  clearTimeout(timer);
  if (result) return result;
  pending.catch(() => {}); // its outcome no longer has anyone to go to
  state.stats.timeout(request.tables);
  return icebergError(504, "GatewayTimeoutException", `request timed out after ${requestTimeoutMs / 1000} s (R2 Data Catalog's request timeout); a commit may still have been applied`, { note: "504 timeout" });
}

async function catalogAnswer(state, request) {
  const { route, req } = request;
  const op = route.operation;
  if (op === "getToken") return getToken(state, request);
  const write = WRITE_OPERATIONS.has(op);
  const denied = state.auth.check(req.headers.authorization, { write });
  if (denied) return plainText(denied.status, denied.text);
  if (UNSUPPORTED_OPERATIONS.has(op)) {
    return icebergError(406, "UnsupportedOperationException", `${op} is not supported by R2 Data Catalog`);
  }
  // getConfig: "The warehouse query parameter is required."
  if (op === "getConfig" && !request.url.searchParams.get("warehouse")) {
    return icebergError(400, "BadRequestException", "getConfig: the warehouse query parameter is required");
  }
  // "Basin Catalog accepts the report and returns 204, but does not store it."
  if (op === "reportMetrics") return { status: 204, headers: {}, body: Buffer.alloc(0), note: "204 metrics discarded" };
  if (write) {
    if (request.json === undefined && request.body.length > 0) return icebergError(400, "BadRequestException", "request body is not JSON");
    const verdict = state.limiter.admit(route, routeIdent(route));
    if (!verdict.admitted) {
      state.stats.rejectedByRule(route, request.tables, verdict.rule);
      const seconds = state.limiter.retryAfterSeconds;
      return tooManyRequests(verdict.rule, verdict.limit, seconds, seconds);
    }
    state.stats.admitted(route, COMMIT_OPERATIONS.has(op) ? request.tables : []);
    const problem = await requestProblem(state, request);
    if (problem) return icebergError(problem.status, problem.type, problem.message);
  }
  if (COMMIT_OPERATIONS.has(op)) return commit(state, request);
  return forward(state, request);
}

function parseJson(body) {
  if (body.length === 0) return null;
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

/** The tables a request is about: the table of its route, or every table of a transaction. */
function tablesOf(route, json) {
  if (route.operation === "commitTransaction") {
    const changes = Array.isArray(json?.["table-changes"]) ? json["table-changes"] : [];
    return changes.filter((c) => Array.isArray(c?.identifier?.namespace)).map((c) => identName(c.identifier.namespace, c.identifier.name));
  }
  const ident = routeIdent(route);
  return ident ? [ident] : [];
}

// --- request rules ----------------------------------------------------------------------------------

async function requestProblem(state, { route, url, json }) {
  switch (route.operation) {
    case "dropNamespace":
    case "dropTable":
    case "dropView":
      return queryProblem(route.operation, url.searchParams);
    case "createNamespace":
      return createNamespaceProblem(json);
    case "updateNamespaceProperties":
      return namespacePropertiesProblem(json);
    case "createTable":
      return createTableProblem(json) ?? (await locationProblem(state, route, json?.location));
    case "registerTable":
      return registerTableProblem(json, catalogBucket(route));
    case "updateTable":
      return commitProblem(state, route, route.namespace, route.table, json?.updates);
    case "commitTransaction": {
      const shape = transactionProblem(json);
      if (shape) return shape;
      for (const change of json["table-changes"]) {
        const p = await commitProblem(state, route, change.identifier.namespace, change.identifier.name, change.updates);
        if (p) return p;
      }
      return null;
    }
    default:
      return null;
  }
}

// SeaweedFS names the prefix after its table bucket, which plays the part of R2's catalog bucket.
const catalogBucket = (route) => route.catalog;

async function commitProblem(state, route, namespace, table, updates) {
  const p = updatesProblem(updates);
  if (p || !needsTableIdentity(updates)) return p;
  const metadata = await currentMetadata(state, route.catalog, namespace, table);
  return metadata ? identityProblem(updates, metadata) : null;
}

/** The table's metadata from SeaweedFS, or null when it does not exist (SeaweedFS then says so). */
async function currentMetadata(state, catalog, namespace, table) {
  const path = `/v1/${encodeURIComponent(catalog)}/namespaces/${encodeURIComponent(namespace.join("\x1f"))}/tables/${encodeURIComponent(table)}`;
  const r = await upstream(state, { method: "GET", path, headers: {} });
  if (r.status === 404) return null;
  if (r.status !== 200) throw new Error(`loading ${identName(namespace, table)} from SeaweedFS: HTTP ${r.status}`);
  return JSON.parse(r.body.toString("utf8")).metadata;
}

/** createTable with a location: inside the catalog bucket, and "must not already contain files". */
async function locationProblem(state, route, location) {
  if (location === undefined || location === null || location === "") return null;
  const bucket = catalogBucket(route);
  const where = parseS3Location(location);
  const bad = (message) => ({ status: 400, type: "BadRequestException", message });
  if (!where || where.bucket !== bucket) return bad(`createTable: location ${location} is not inside the catalog bucket s3://${bucket}/`);
  if (!state.config.s3) return bad("createTable: the rules layer has no S3 access to check that the location holds no files; omit the location");
  if (await hasObjects(state.config.s3, where.bucket, where.prefix)) {
    return bad(`createTable: location ${location} already contains files`);
  }
  return null;
}

// --- commits ----------------------------------------------------------------------------------------

async function commit(state, request) {
  const { route, tables } = request;
  const claim = state.config.concurrentUpdateError ? state.slots.claim(tables.map((t) => `${route.catalog}|${t}`)) : { won: true, release() {} };
  if (!claim.won) {
    await claim.settled;
    state.stats.concurrentUpdateError(tables);
    return icebergError(
      400,
      "ConcurrentUpdateError",
      `Concurrent update to ${tables.join(", ")}: another commit to the table was in flight and won (R2 retried this one and gave up); reload the table and retry`,
    );
  }
  try {
    await sleep(state.config.commitLatencyMs);
    const fault = state.faults.take(tables);
    if (fault) state.stats.fault(tables, fault.kind);
    if (fault?.kind === "fail") {
      return icebergError(fault.status, "ServiceUnavailableException", `injected fault: commit not applied (HTTP ${fault.status})`, { note: `${fault.status} fault fail` });
    }
    if (fault?.kind === "delay") await sleep(fault.ms);
    const result = await forward(state, request);
    recordCommitOutcome(state.stats, tables, result.status);
    if (fault?.kind === "lose-answer") {
      if (fault.as === "reset") return { reset: true, note: "fault lose-answer: applied, connection reset" };
      return icebergError(502, "BadGatewayException", "injected fault: the commit was applied but its answer was lost", { note: "502 fault lose-answer" });
    }
    return result;
  } finally {
    claim.release();
  }
}

function recordCommitOutcome(stats, tables, status) {
  if (status >= 200 && status < 300) stats.committed(tables);
  else if (status === 409) stats.conflict(tables);
  else if (status >= 500) stats.upstreamError(tables);
}

// --- forwarding -------------------------------------------------------------------------------------

async function forward(state, { req, url, route, body }) {
  const params = new URLSearchParams(url.search);
  if (route.operation === "loadTable") for (const name of IGNORED_LOAD_PARAMS) params.delete(name);
  const query = params.toString();
  const r = await upstream(state, {
    method: req.method,
    path: url.pathname + (query ? `?${query}` : ""),
    headers: forwardableHeaders(req.headers, IGNORED_REQUEST_HEADERS),
    body,
  });
  if (r.status === 401 || r.status === 403) {
    return plainText(r.status, `${r.status === 401 ? "Unauthorized" : "Forbidden"}: the catalog refused the request\n`);
  }
  return { status: r.status, headers: forwardableHeaders(r.headers, ["etag"]), body: r.body };
}

/** A request to SeaweedFS with the proxy's own token (re-minted once if SeaweedFS refuses it). */
async function upstream(state, request) {
  let refreshed = false;
  for (;;) {
    const token = await state.upstreamToken.get();
    const r = await send(state.config.upstream, { ...request, headers: { ...request.headers, authorization: `Bearer ${token}` } });
    if (r.status !== 401 || refreshed) return r;
    state.upstreamToken.invalidate();
    refreshed = true;
  }
}

/** POST /v1/oauth/tokens: not on R2; passed to SeaweedFS unless `oauth` is off (see auth.mjs). */
async function getToken(state, { req, body }) {
  if (!state.config.oauth) {
    return icebergError(406, "UnsupportedOperationException", "getToken (POST /v1/oauth/tokens) is not supported by R2 Data Catalog: send the API token as a bearer token");
  }
  const r = await send(state.config.upstream, { method: "POST", path: "/v1/oauth/tokens", headers: forwardableHeaders(req.headers), body });
  if (r.status === 200) {
    try {
      const { access_token: token, expires_in: expiresIn } = JSON.parse(r.body.toString("utf8"));
      if (token) state.auth.rememberMinted(token, expiresIn);
    } catch {
      // Not JSON: the client will fail on it the same way.
    }
  }
  return { status: r.status, headers: forwardableHeaders(r.headers), body: r.body, note: `${r.status} getToken (local only)` };
}
