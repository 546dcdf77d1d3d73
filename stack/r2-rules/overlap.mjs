// Overlapping commits to one table ("Iceberg REST API compatibility", "Table commits"): "If two
// commits to the same table pass their requirement checks at the same time, Basin Catalog retries
// the losing commit up to two times. If the commit still fails, Basin Catalog returns 400 with the
// error type ConcurrentUpdateError."
//
// Emulated outcome: a commit that arrives while another commit to the same table is in flight
// loses. It is not applied, and once the in-flight commit has finished it is answered 400
// ConcurrentUpdateError. (R2's internal retry could still apply a loser whose requirements hold on
// the new state, e.g. one without assert-ref-snapshot-id; this emulation never does, so it is the
// stricter of the two: a client that handles the 400 handles both.) A commitTransaction holds every
// table it touches.

/** Which tables have a commit in flight. */
export class CommitSlots {
  // table key -> promise that settles when its in-flight commit finishes
  #inFlight = new Map();

  /**
   * Claims every table in `keys` for one commit: `{ won: true, release }` when none is busy (call
   * `release()` once the commit has finished upstream), else `{ won: false, settled }` where
   * `settled` resolves when the commits it lost against have finished.
   */
  claim(keys) {
    const busy = [...new Set(keys)].filter((key) => this.#inFlight.has(key));
    if (busy.length > 0) {
      return { won: false, settled: Promise.all(busy.map((key) => this.#inFlight.get(key))).then(() => undefined) };
    }
    let release;
    const done = new Promise((resolve) => {
      release = resolve;
    });
    for (const key of keys) this.#inFlight.set(key, done);
    return {
      won: true,
      release: () => {
        for (const key of keys) if (this.#inFlight.get(key) === done) this.#inFlight.delete(key);
        release();
      },
    };
  }

  /** Tables with a commit in flight now (for the stats). */
  get busy() {
    return [...this.#inFlight.keys()];
  }
}
