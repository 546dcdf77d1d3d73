// Which Iceberg REST operation a request is, from its method and path (the operation ids of the
// REST catalog specification), so every rule can speak in the terms Cloudflare's documents use.
//
// Paths look like /v1/{prefix}/namespaces/{namespace}/tables/{table}; a multi-level namespace is
// one path segment with its levels joined by %1F (the unit separator), as the specification says.

/** Operations that change the catalog: the ones R2 Data Catalog rate limits. */
export const WRITE_OPERATIONS = new Set([
  "createNamespace",
  "dropNamespace",
  "updateNamespaceProperties",
  "createTable",
  "registerTable",
  "updateTable",
  "dropTable",
  "renameTable",
  "commitTransaction",
  "createView",
  "replaceView",
  "dropView",
  "renameView",
]);

/** Operations whose request body is a table commit (requirements + updates). */
export const COMMIT_OPERATIONS = new Set(["updateTable", "commitTransaction"]);

/**
 * Operations of the specification that R2 Data Catalog does not support ("Iceberg REST API
 * compatibility": unregisterTable, registerView, scan planning, functions).
 */
export const UNSUPPORTED_OPERATIONS = new Set([
  "unregisterTable",
  "registerView",
  "planTableScan",
  "fetchPlanningResult",
  "cancelPlanning",
  "fetchScanTasks",
  "listFunctions",
  "loadFunction",
]);

// Routes below /v1/{prefix}: [method, path pattern, operation]. `:ns` is a namespace, `:t` a
// table, `:v` a view, `*` any segment.
const PREFIXED_ROUTES = [
  ["GET", "namespaces", "listNamespaces"],
  ["POST", "namespaces", "createNamespace"],
  ["GET", "namespaces/:ns", "loadNamespaceMetadata"],
  ["HEAD", "namespaces/:ns", "namespaceExists"],
  ["DELETE", "namespaces/:ns", "dropNamespace"],
  ["POST", "namespaces/:ns/properties", "updateNamespaceProperties"],
  ["GET", "namespaces/:ns/tables", "listTables"],
  ["POST", "namespaces/:ns/tables", "createTable"],
  ["POST", "namespaces/:ns/register", "registerTable"],
  ["GET", "namespaces/:ns/tables/:t", "loadTable"],
  ["HEAD", "namespaces/:ns/tables/:t", "tableExists"],
  ["POST", "namespaces/:ns/tables/:t", "updateTable"],
  ["DELETE", "namespaces/:ns/tables/:t", "dropTable"],
  ["POST", "namespaces/:ns/tables/:t/metrics", "reportMetrics"],
  ["GET", "namespaces/:ns/tables/:t/credentials", "loadCredentials"],
  ["POST", "namespaces/:ns/tables/:t/unregister", "unregisterTable"],
  ["POST", "namespaces/:ns/tables/:t/plan", "planTableScan"],
  ["GET", "namespaces/:ns/tables/:t/plan/*", "fetchPlanningResult"],
  ["DELETE", "namespaces/:ns/tables/:t/plan/*", "cancelPlanning"],
  ["POST", "namespaces/:ns/tables/:t/tasks", "fetchScanTasks"],
  ["POST", "tables/rename", "renameTable"],
  ["POST", "transactions/commit", "commitTransaction"],
  ["GET", "namespaces/:ns/views", "listViews"],
  ["POST", "namespaces/:ns/views", "createView"],
  ["GET", "namespaces/:ns/views/:v", "loadView"],
  ["HEAD", "namespaces/:ns/views/:v", "viewExists"],
  ["POST", "namespaces/:ns/views/:v", "replaceView"],
  ["DELETE", "namespaces/:ns/views/:v", "dropView"],
  ["POST", "views/rename", "renameView"],
  ["POST", "namespaces/:ns/register-view", "registerView"],
  ["GET", "namespaces/:ns/functions", "listFunctions"],
  ["GET", "namespaces/:ns/functions/:f", "loadFunction"],
].map(([method, pattern, operation]) => ({ method, parts: pattern.split("/"), operation }));

// First path segments that start an unprefixed route (a catalog whose config has no prefix).
const ROUTE_ROOTS = new Set(["namespaces", "tables", "views", "transactions"]);

/**
 * A classified request: `operation` (a specification operation id, or "other"), `catalog` (the
 * prefix, which names the warehouse), and for table and view routes the namespace levels and the
 * table or view name.
 */
export function classify(method, pathname) {
  const segments = pathname.split("/").slice(1).map(decodeSegment);
  const route = { operation: "other", catalog: "", namespace: null, table: null, view: null };
  if (segments[0] !== "v1") return route;
  if (method === "GET" && segments.length === 2 && segments[1] === "config") return { ...route, operation: "getConfig" };
  if (method === "POST" && segments.length === 3 && segments[1] === "oauth" && segments[2] === "tokens") {
    return { ...route, operation: "getToken" };
  }
  let rest = segments.slice(1);
  if (rest.length > 0 && !ROUTE_ROOTS.has(rest[0])) {
    route.catalog = rest[0];
    rest = rest.slice(1);
  }
  for (const candidate of PREFIXED_ROUTES) {
    const params = match(candidate, method, rest);
    if (!params) continue;
    return {
      ...route,
      operation: candidate.operation,
      namespace: params.ns === undefined ? null : params.ns.split("\x1f"),
      table: params.t ?? null,
      view: params.v ?? null,
    };
  }
  return route;
}

function match(candidate, method, segments) {
  if (candidate.method !== method || candidate.parts.length !== segments.length) return null;
  const params = {};
  for (let i = 0; i < segments.length; i++) {
    const part = candidate.parts[i];
    if (part.startsWith(":")) params[part.slice(1)] = segments[i];
    else if (part !== "*" && part !== segments[i]) return null;
  }
  return params;
}

function decodeSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** `ns1.ns2.table`: how icepipe, PyIceberg and the stats name a table (or view). */
export function identName(namespace, name) {
  return [...namespace, name].join(".");
}

/** The name of the table or view a route addresses, or null. */
export function routeIdent(route) {
  const name = route.table ?? route.view;
  return route.namespace && name !== null ? identName(route.namespace, name) : null;
}
