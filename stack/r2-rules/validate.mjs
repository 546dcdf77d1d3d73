// What R2 Data Catalog refuses in a request that SeaweedFS would accept ("Iceberg REST API
// compatibility", "Table properties", "Limits"). Each check returns null or a problem
// `{ status, type, message }` that becomes an Iceberg error response.
//
// Statuses and error types are the documented ones where the documents give them (409
// FailedToSetProperties, 400 InvalidFormatVersion, 400 InvalidMaintenanceIntervalPropertyValue,
// 501 for encryption keys, 400 for set-location / assign-uuid and the drop parameters); where they
// name only the refusal (namespace names, a non-empty create location, a metadata file outside the
// bucket) the answer is 400 BadRequestException.

const problem = (status, type, message) => ({ status, type, message });
const badRequest = (message) => problem(400, "BadRequestException", message);

// --- table properties ------------------------------------------------------------------------------

/** The three write.metadata* properties R2 lets clients set. */
export const ALLOWED_WRITE_METADATA = new Set([
  "write.metadata.compression-codec",
  "write.metadata.delete-after-commit.enabled",
  "write.metadata.previous-versions-max",
]);

/** R2 controls where metadata and data files go: these table properties cannot be set or removed. */
export function isBlockedProperty(key) {
  return key.startsWith("write.data.path") || (key.startsWith("write.metadata") && !ALLOWED_WRITE_METADATA.has(key));
}

const MAINTENANCE_INTERVAL = "cloudflare-data-catalog.maintenance.interval-seconds";

function blockedPropertiesProblem(keys) {
  const blocked = keys.filter(isBlockedProperty);
  if (blocked.length === 0) return null;
  return problem(
    409,
    "FailedToSetProperties",
    `table properties ${blocked.join(", ")} are blocked: R2 Data Catalog decides where data and metadata files are written (write.data.path*, write.metadata* except ${[...ALLOWED_WRITE_METADATA].join(", ")})`,
  );
}

function reservedPropertiesProblem(properties) {
  const interval = properties?.[MAINTENANCE_INTERVAL];
  if (interval !== undefined && String(interval) !== "3600") {
    return problem(400, "InvalidMaintenanceIntervalPropertyValue", `${MAINTENANCE_INTERVAL} must be 3600, not ${JSON.stringify(interval)}`);
  }
  return null;
}

function tablePropertiesProblem(properties) {
  return blockedPropertiesProblem(Object.keys(properties ?? {})) ?? reservedPropertiesProblem(properties);
}

// --- commits ---------------------------------------------------------------------------------------

/**
 * Problems in a commit's updates that need nothing but the request: blocked or invalid properties,
 * encryption keys. set-location and assign-uuid need the table's metadata: identityProblem.
 */
export function updatesProblem(updates) {
  for (const update of updates ?? []) {
    switch (update?.action) {
      case "set-properties": {
        const p = tablePropertiesProblem(update.updates);
        if (p) return p;
        break;
      }
      case "remove-properties": {
        const p = blockedPropertiesProblem(update.removals ?? []);
        if (p) return p;
        break;
      }
      case "add-encryption-key":
      case "remove-encryption-key":
        return problem(501, "NotImplementedException", `${update.action}: table encryption is not supported by R2 Data Catalog`);
      default:
        break;
    }
  }
  return null;
}

/** True when the updates set a location or a UUID, which R2 allows only to their current values. */
export function needsTableIdentity(updates) {
  return (updates ?? []).some((u) => u?.action === "set-location" || u?.action === "assign-uuid");
}

/** set-location / assign-uuid to anything but the table's current value: 400. */
export function identityProblem(updates, metadata) {
  for (const update of updates ?? []) {
    if (update?.action === "set-location" && update.location !== metadata.location) {
      return badRequest(`set-location: the location of a table cannot change (${metadata.location}, asked for ${update.location})`);
    }
    if (update?.action === "assign-uuid" && update.uuid !== metadata["table-uuid"]) {
      return badRequest(`assign-uuid: the UUID of a table cannot change (${metadata["table-uuid"]}, asked for ${update.uuid})`);
    }
  }
  return null;
}

/** The documented maximum of tables in one commitTransaction. */
export const MAX_TRANSACTION_TABLES = 7500;

/** A commitTransaction's shape: unique table identifiers, at most 7,500 tables. */
export function transactionProblem(body) {
  const changes = body?.["table-changes"];
  if (!Array.isArray(changes)) return badRequest("commitTransaction: table-changes must be an array");
  if (changes.length > MAX_TRANSACTION_TABLES) {
    return badRequest(`commitTransaction: ${changes.length} tables, at most ${MAX_TRANSACTION_TABLES} in one transaction`);
  }
  const seen = new Set();
  for (const change of changes) {
    const id = change?.identifier;
    if (!id || !Array.isArray(id.namespace) || typeof id.name !== "string") {
      return badRequest("commitTransaction: every change must include a table identifier");
    }
    const key = [...id.namespace, id.name].join("\x1f");
    if (seen.has(key)) return badRequest(`commitTransaction: table ${[...id.namespace, id.name].join(".")} appears twice`);
    seen.add(key);
  }
  return null;
}

// --- tables and namespaces -------------------------------------------------------------------------

const FORMAT_VERSIONS = new Set(["1", "2", "3"]);

/** createTable's name and properties (its location needs a look at storage: see server.mjs). */
export function createTableProblem(body) {
  if (typeof body?.name !== "string" || body.name === "") return badRequest("createTable: the table name must not be empty");
  const version = body.properties?.["format-version"];
  if (version !== undefined && !FORMAT_VERSIONS.has(String(version))) {
    return problem(400, "InvalidFormatVersion", `format-version must be 1, 2 or 3, not ${JSON.stringify(version)}`);
  }
  return tablePropertiesProblem(body.properties);
}

/** registerTable: "The metadata file must be inside the catalog bucket." */
export function registerTableProblem(body, bucket) {
  const location = body?.["metadata-location"];
  if (typeof body?.name !== "string" || body.name === "") return badRequest("registerTable: the table name must not be empty");
  if (typeof location !== "string" || !location.startsWith(`s3://${bucket}/`)) {
    return badRequest(`registerTable: the metadata file must be inside the catalog bucket s3://${bucket}/ (got ${JSON.stringify(location)})`);
  }
  return null;
}

/** The documented namespace rules: at most 5 levels, no period, no empty or reserved first level. */
export const MAX_NAMESPACE_DEPTH = 5;
export const RESERVED_NAMESPACES = new Set(["system", "examples", "information_schema"]);

function namespaceNameProblem(levels) {
  if (!Array.isArray(levels) || levels.length === 0) return badRequest("namespace must have at least one level");
  if (levels.length > MAX_NAMESPACE_DEPTH) return badRequest(`namespace ${levels.join(".")} has ${levels.length} levels, at most ${MAX_NAMESPACE_DEPTH}`);
  for (const level of levels) {
    if (typeof level !== "string" || level === "") return badRequest("namespace levels must not be empty");
    if (level.includes(".")) return badRequest(`namespace level ${JSON.stringify(level)} contains a period`);
  }
  if (RESERVED_NAMESPACES.has(levels[0].toLowerCase())) return badRequest(`namespace ${JSON.stringify(levels[0])} is reserved`);
  return null;
}

function namespaceKeysProblem(keys) {
  const upper = keys.filter((k) => k !== k.toLowerCase());
  return upper.length ? badRequest(`namespace property keys must be lowercase: ${upper.join(", ")}`) : null;
}

export function createNamespaceProblem(body) {
  return namespaceNameProblem(body?.namespace) ?? namespaceKeysProblem(Object.keys(body?.properties ?? {}));
}

/** updateNamespaceProperties: lowercase keys; `location` can be neither changed nor removed. */
export function namespacePropertiesProblem(body) {
  const updates = Object.keys(body?.updates ?? {});
  const removals = body?.removals ?? [];
  if (updates.includes("location") || removals.includes("location")) {
    return badRequest("the location property of a namespace cannot be changed or removed");
  }
  return namespaceKeysProblem([...updates, ...removals]);
}

/** Query parameters other catalogs add and R2 refuses. */
export function queryProblem(operation, searchParams) {
  const refused =
    operation === "dropNamespace" ? ["recursive", "force", "purge"] : operation === "dropTable" || operation === "dropView" ? ["force"] : [];
  const present = refused.filter((name) => searchParams.has(name));
  return present.length ? badRequest(`${operation} does not accept ${present.join(", ")}`) : null;
}
