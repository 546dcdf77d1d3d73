// R2 Data Catalog's rate limits ("Limits" page, "Rate limits"): write operations per catalog and per
// table over a 60-second window; reads are never limited. Each rule carries the documented
// sentence it enforces.
//
// Window: sliding (a log of the admitted requests' times), the strict reading of "each limit applies
// over a 60-second window": no 60-second interval ever holds more than the limit, and a client that
// waits out `Retry-After` always finds room again. Rejected requests are not counted by default
// (they did no work; counting them would let a retrying client lock itself out for longer than
// Retry-After says); `countRejected` counts them for a harsher reading. Cloudflare does not document
// either point.

/** The documented limits (per 60 s window). */
export const DOCUMENTED_LIMITS = Object.freeze({
  windowMs: 60_000,
  updateTablePerTable: 20,
  writesPerCatalog: 120,
  createsPerCatalog: 10,
  namespaceOpsPerCatalog: 20,
});

/** The rules, named after the documented limit each one enforces. */
export const RULES = Object.freeze([
  {
    name: "updateTable-per-table",
    limit: "updateTablePerTable",
    documented: "updateTable and replaceView: 20 for each table or view per 60 s",
    operations: new Set(["updateTable", "replaceView"]),
    // One window per table (or view) of a catalog.
    key: (route, ident) => `${route.catalog}|${ident}`,
  },
  {
    name: "writes-per-catalog",
    limit: "writesPerCatalog",
    documented: "all write operations combined: 120 per catalog per 60 s",
    operations: null, // every write operation
    key: (route) => route.catalog,
  },
  {
    name: "creates-per-catalog",
    limit: "createsPerCatalog",
    documented: "createTable, registerTable, commitTransaction and createView: 10 per catalog per 60 s",
    operations: new Set(["createTable", "registerTable", "commitTransaction", "createView"]),
    key: (route) => route.catalog,
  },
  {
    name: "namespace-ops-per-catalog",
    limit: "namespaceOpsPerCatalog",
    documented:
      "createNamespace, dropNamespace, dropTable, renameTable, dropView and renameView: 20 per catalog per 60 s",
    operations: new Set(["createNamespace", "dropNamespace", "dropTable", "renameTable", "dropView", "renameView"]),
    key: (route) => route.catalog,
  },
]);

/** The rules a write operation counts toward (updateNamespaceProperties: only writes-per-catalog). */
export function rulesFor(operation) {
  return RULES.filter((rule) => rule.operations === null || rule.operations.has(operation));
}

/** Times of the requests admitted in the last `windowMs`, oldest first. */
export class SlidingWindow {
  #times = [];
  #head = 0;

  constructor(windowMs) {
    this.windowMs = windowMs;
  }

  /** How many requests the window holds at `now`. */
  count(now) {
    while (this.#head < this.#times.length && this.#times[this.#head] <= now - this.windowMs) this.#head++;
    // Compact now and then so the array does not grow without bound.
    if (this.#head > 1024 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
    return this.#times.length - this.#head;
  }

  record(now) {
    this.#times.push(now);
  }
}

/**
 * Admits or rejects write requests against every rule that applies to them. `limits` holds the
 * numbers (DOCUMENTED_LIMITS by default; a rule whose limit is null is off); `now()` is the clock.
 */
export class RateLimiter {
  #windows = new Map();

  constructor({ limits = DOCUMENTED_LIMITS, countRejected = false, now = Date.now } = {}) {
    this.limits = { ...DOCUMENTED_LIMITS, ...limits };
    this.countRejected = countRejected;
    this.now = now;
  }

  /** Retry-After in seconds: the window length, as R2 answers 60 for its 60-second window. */
  get retryAfterSeconds() {
    return Math.ceil(this.limits.windowMs / 1000);
  }

  /**
   * Admits the request (recording it in every window it counts toward) or names the first rule it
   * would break: `{ admitted: true }` or `{ admitted: false, rule, limit }`.
   */
  admit(route, ident) {
    const now = this.now();
    const windows = [];
    let broken = null;
    for (const rule of rulesFor(route.operation)) {
      const limit = this.limits[rule.limit];
      if (limit === null || limit === undefined) continue;
      const window = this.#window(rule, rule.key(route, ident));
      if (!broken && window.count(now) >= limit) broken = { rule, limit };
      windows.push(window);
    }
    if (!broken || this.countRejected) for (const window of windows) window.record(now);
    return broken ? { admitted: false, rule: broken.rule.name, limit: broken.limit } : { admitted: true };
  }

  /** Forgets every window (POST /_rules/reset). */
  reset() {
    this.#windows.clear();
  }

  #window(rule, key) {
    const id = `${rule.name}\n${key}`;
    let window = this.#windows.get(id);
    if (!window) {
      window = new SlidingWindow(this.limits.windowMs);
      this.#windows.set(id, window);
    }
    return window;
  }
}

/**
 * The most entries of sorted `times` inside any window of `windowMs` (what the rule would have seen
 * at its busiest moment).
 */
export function maxInAnyWindow(times, windowMs) {
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while (times[start] <= times[end] - windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}
