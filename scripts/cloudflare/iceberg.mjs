// The few Iceberg REST catalog calls doctor makes (config, load table), with the catalog token as
// a bearer token, as R2 Data Catalog authenticates. Errors keep the HTTP status and R2's body
// (plain text for 401/403) so doctor can tell a wrong token from a wrong warehouse.

export class CatalogHttpError extends Error {
  constructor(status, body, what) {
    super(`${what}: HTTP ${status}: ${body.slice(0, 300)}`);
    this.status = status;
    this.body = body;
  }
}

export class IcebergRest {
  constructor(uri, warehouse, token) {
    this.uri = uri.replace(/\/+$/, "");
    this.warehouse = warehouse;
    this.token = token;
    this.prefix = null;
  }

  async call(path, what) {
    let res;
    try {
      res = await fetch(this.uri + path, {
        headers: { authorization: `Bearer ${this.token}`, accept: "application/json" },
        signal: AbortSignal.timeout(40_000),
      });
    } catch (e) {
      throw new CatalogHttpError(0, `cannot reach ${this.uri}: ${e.cause?.message ?? e.message}`, what);
    }
    const body = await res.text();
    if (!res.ok) throw new CatalogHttpError(res.status, body, what);
    return JSON.parse(body);
  }

  /** GET /v1/config?warehouse=...: the prefix of the warehouse's routes. */
  async config() {
    const c = await this.call(`/v1/config?warehouse=${encodeURIComponent(this.warehouse)}`, "catalog config");
    this.prefix = c.overrides?.prefix ?? c.defaults?.prefix ?? "";
    return c;
  }

  /** The table's metadata, or null when it does not exist (yet). */
  async loadTable(namespace, table) {
    if (this.prefix === null) await this.config();
    const ns = encodeURIComponent(namespace.join("\x1f"));
    const base = this.prefix ? `/v1/${encodeURIComponent(this.prefix)}` : "/v1";
    try {
      const r = await this.call(`${base}/namespaces/${ns}/tables/${encodeURIComponent(table)}`, `load table ${[...namespace, table].join(".")}`);
      return r.metadata;
    } catch (e) {
      if (e instanceof CatalogHttpError && e.status === 404) return null;
      throw e;
    }
  }
}

/** Snapshots of `metadata` whose icepipe ledger (summary `icepipe.raw-objects`) names one of `keys`. */
export function snapshotsHolding(metadata, keys) {
  const want = new Set(keys);
  return (metadata?.snapshots ?? []).filter((s) => {
    try {
      return JSON.parse(s.summary?.["icepipe.raw-objects"] ?? "[]").some((o) => want.has(o.key));
    } catch {
      return false;
    }
  });
}
