// Counters of the rules layer, read by tests and measurements at GET /_rules/stats: requests by
// operation and status; per catalog, the writes each rate-limit rule admitted (with the most it saw in
// any window) and what it rejected; per table, the commits admitted and applied with their times,
// 429s by rule, 400 ConcurrentUpdateErrors, 409s, 5xx and injected faults.
import { maxInAnyWindow, rulesFor } from "./limits.mjs";

// Times kept per series; older ones are dropped (and counted) so a long-running stack stays small.
const MAX_TIMES = 100_000;

class TimeSeries {
  total = 0;
  dropped = 0;
  times = [];

  add(t) {
    this.total++;
    this.times.push(t);
    if (this.times.length > MAX_TIMES) {
      this.times.shift();
      this.dropped++;
    }
  }

  summary(windowMs, now, { withTimes = false } = {}) {
    return {
      total: this.total,
      inWindowNow: this.times.filter((t) => t > now - windowMs).length,
      maxInAnyWindow: maxInAnyWindow(this.times, windowMs),
      ...(withTimes ? { times: this.times, timesDropped: this.dropped } : {}),
    };
  }
}

const increment = (counts, key, by = 1) => {
  counts[key] = (counts[key] ?? 0) + by;
};

function newTable() {
  return {
    admitted: new TimeSeries(), // commits let through the rate limits (counted by R2)
    committed: new TimeSeries(), // commits SeaweedFS applied (2xx)
    rejected: {}, // rule -> 429s
    concurrentUpdateErrors: 0,
    conflicts: 0, // 409 from SeaweedFS (failed requirement)
    upstreamErrors: 0, // 5xx from SeaweedFS
    faults: {}, // injected fault kind -> count
    timeouts: 0,
  };
}

export class Stats {
  constructor({ windowMs, now = Date.now }) {
    this.windowMs = windowMs;
    this.now = now;
    this.reset();
  }

  reset() {
    this.since = this.now();
    this.byOperation = {};
    this.byStatus = {};
    this.rejected = {};
    this.catalogs = new Map();
    this.tables = new Map();
  }

  request(route) {
    increment(this.byOperation, route.operation);
  }

  response(status) {
    increment(this.byStatus, String(status));
  }

  /** A write the rate limits let through; `idents` are the tables a commit touches. */
  admitted(route, idents) {
    const catalog = this.#catalog(route.catalog);
    const now = this.now();
    for (const rule of rulesFor(route.operation)) {
      if (!catalog.admitted[rule.name]) catalog.admitted[rule.name] = new TimeSeries();
      catalog.admitted[rule.name].add(now);
    }
    for (const ident of idents) this.#table(ident).admitted.add(now);
  }

  /** A 429: `rule` broke for a write to `route` (touching `idents`). */
  rejectedByRule(route, idents, rule) {
    increment(this.rejected, rule);
    increment(this.#catalog(route.catalog).rejected, rule);
    for (const ident of idents) increment(this.#table(ident).rejected, rule);
  }

  committed(idents) {
    const now = this.now();
    for (const ident of idents) this.#table(ident).committed.add(now);
  }

  concurrentUpdateError(idents) {
    for (const ident of idents) this.#table(ident).concurrentUpdateErrors++;
  }

  conflict(idents) {
    for (const ident of idents) this.#table(ident).conflicts++;
  }

  upstreamError(idents) {
    for (const ident of idents) this.#table(ident).upstreamErrors++;
  }

  timeout(idents) {
    for (const ident of idents) this.#table(ident).timeouts++;
  }

  fault(idents, kind) {
    for (const ident of idents) increment(this.#table(ident).faults, kind);
  }

  /** Everything, as JSON-ready data. Per-table commit times (ms since epoch) let a test compute its own windows. */
  snapshot() {
    const now = this.now();
    const catalogs = {};
    for (const [name, c] of this.catalogs) {
      const admitted = {};
      for (const [rule, series] of Object.entries(c.admitted)) admitted[rule] = series.summary(this.windowMs, now);
      catalogs[name] = { admitted, rejected: c.rejected };
    }
    const tables = {};
    for (const [ident, t] of this.tables) {
      tables[ident] = {
        commits: {
          admitted: t.admitted.summary(this.windowMs, now, { withTimes: true }),
          committed: t.committed.summary(this.windowMs, now, { withTimes: true }),
        },
        rejected: t.rejected,
        concurrentUpdateErrors: t.concurrentUpdateErrors,
        conflicts: t.conflicts,
        upstreamErrors: t.upstreamErrors,
        timeouts: t.timeouts,
        faults: t.faults,
      };
    }
    return {
      since: new Date(this.since).toISOString(),
      windowMs: this.windowMs,
      requests: { byOperation: this.byOperation, byStatus: this.byStatus },
      rejected: this.rejected,
      catalogs,
      tables,
    };
  }

  #catalog(name) {
    if (!this.catalogs.has(name)) this.catalogs.set(name, { admitted: {}, rejected: {} });
    return this.catalogs.get(name);
  }

  #table(ident) {
    if (!this.tables.has(ident)) this.tables.set(ident, newTable());
    return this.tables.get(ident);
  }
}
