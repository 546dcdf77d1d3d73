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
}
