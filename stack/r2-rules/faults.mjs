// Faults a real R2 Data Catalog can produce and SeaweedFS will not, injected into the next commits
// (updateTable, commitTransaction) by tests through POST /_rules/faults:
//
//   { "kind": "lose-answer", "table": "ns.t", "count": 1, "as": "reset" | "502" }
//       the commit is applied upstream, then its answer is lost: the connection is reset, or a 502
//       comes back (what a client sees when an answer goes missing between catalog and client)
//   { "kind": "fail", "table": "ns.t", "count": N, "status": 503 }
//       the commit is answered with that 5xx and not applied
//   { "kind": "delay", "table": "ns.t", "count": 1, "ms": 45000 }
//       the commit reaches upstream only after `ms` (to run into the request timeout)
//
// `table` is optional (any table); `count` defaults to 1. Faults fire in the order they were added.

const KINDS = new Set(["lose-answer", "fail", "delay"]);

/** Validates a fault posted by a test; throws an Error naming what is wrong. */
export function parseFault(input) {
  const f = input ?? {};
  if (!KINDS.has(f.kind)) throw new Error(`fault kind must be one of ${[...KINDS].join(", ")}, not ${JSON.stringify(f.kind)}`);
  const count = f.count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new Error("fault count must be a positive integer");
  if (f.table !== undefined && (typeof f.table !== "string" || f.table === "")) throw new Error("fault table must be a table name like ns.t");
  const fault = { kind: f.kind, table: f.table ?? null, remaining: count };
  if (f.kind === "lose-answer") {
    fault.as = f.as ?? "reset";
    if (!["reset", "502"].includes(fault.as)) throw new Error('lose-answer "as" must be "reset" or "502"');
  } else if (f.kind === "fail") {
    fault.status = f.status ?? 503;
    if (!Number.isInteger(fault.status) || fault.status < 500 || fault.status > 599) throw new Error("fail status must be a 5xx");
  } else {
    fault.ms = f.ms;
    if (!Number.isInteger(fault.ms) || fault.ms < 0) throw new Error("delay ms must be a non-negative integer");
  }
  return fault;
}

export class Faults {
  #pending = [];
  fired = 0;

  add(input) {
    const fault = parseFault(input);
    this.#pending.push(fault);
    return fault;
  }

  /** The fault for a commit touching `idents`, if one is pending (used up by this call). */
  take(idents) {
    const i = this.#pending.findIndex((f) => f.table === null || idents.includes(f.table));
    if (i < 0) return null;
    const fault = this.#pending[i];
    fault.remaining--;
    if (fault.remaining === 0) this.#pending.splice(i, 1);
    this.fired++;
    return fault;
  }

  list() {
    return this.#pending.map((f) => ({ ...f }));
  }

  clear() {
    this.#pending = [];
  }
}
