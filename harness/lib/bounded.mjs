// Bounded waits for the harness. Every wait has a limit and says what it waits for; when one runs
// out, its error names the step and carries the state that the parts under test registered (the
// Workers' last log lines, the local stack's status and log tail), so a stuck run explains itself.
//
//   await within(30_000, "GET /health on the convert Worker", (signal) => fetch(url, { signal }));
//   await waitFor(() => table.rows >= 10, { timeoutMs: 60_000, what: "10 rows in t" });
//   const forget = addTimeoutContext("convert Worker output", () => logs.text(40));

/** A wait that ran out of time or gave up: `step` names what it waited for. */
export class WaitTimeout extends Error {
  constructor(step, message) {
    super(message);
    this.name = "WaitTimeout";
    this.step = step;
  }
}

/** Entries in insertion order; add() returns the function that takes its entry out again. */
export class Registry {
  #entries = new Map();
  #nextId = 0;

  add(entry) {
    const id = this.#nextId++;
    this.#entries.set(id, entry);
    return () => this.#entries.delete(id);
  }

  /** The entries; `take` also empties the registry. */
  values({ take = false } = {}) {
    const values = [...this.#entries.values()];
    if (take) this.#entries.clear();
    return values;
  }
}

// {label, describe()}: what a timeout report shows about each part under test.
const contexts = new Registry();
// {step, since}: waits in progress (for a report written when node:test gives up on a test).
const inFlight = new Registry();

/**
 * Adds a section to every timeout report: `describe()` returns text (or a promise of it). Returns a
 * function that removes the section again (call it when the part stops).
 */
export function addTimeoutContext(label, describe) {
  return contexts.add({ label, describe });
}

/** The waits in progress, oldest first, as "step (N s)" lines. */
export function waitsInProgress() {
  const now = Date.now();
  return inFlight.values().map(({ step, since }) => `${step} (${Math.round((now - since) / 1000)} s)`);
}

/**
 * Every registered section, the part started last first (the Workers of the test before the stack
 * below them), each behind its own short limit: a probe that is stuck itself (a catalog that does
 * not answer) must not keep the report from being written.
 */
export async function describeState({ perSectionMs = 15_000 } = {}) {
  const sections = [];
  for (const { label, describe } of contexts.values().reverse()) {
    let text;
    try {
      text = await race(perSectionMs, Promise.resolve().then(describe));
      if (text === TIMED_OUT) text = `(no answer within ${perSectionMs} ms)`;
    } catch (e) {
      text = `(unavailable: ${e.message})`;
    }
    sections.push(`--- ${label} ---\n${String(text).trimEnd()}`);
  }
  return sections.join("\n");
}

/** A WaitTimeout for `step` whose message ends with the state report. */
export async function timeoutError(step, message) {
  const state = await describeState();
  return new WaitTimeout(step, state ? `${message}\n${state}` : message);
}

const TIMED_OUT = Symbol("timed out");

/** `promise`'s value, or TIMED_OUT after `ms` (the timer never outlives the race). */
async function race(ms, promise) {
  let timer;
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves as `work` does, or rejects with a WaitTimeout after `ms`. `work` is a promise, or a
 * function that gets an AbortSignal (aborted on the timeout, so it can cancel what it started) and
 * returns one. The error's message names `step` and ends with the state report (unless `report` is
 * false: the probes that write the report use that, so a stuck probe cannot report itself).
 */
export async function within(ms, step, work, { report = true } = {}) {
  const controller = new AbortController();
  const done = inFlight.add({ step, since: Date.now() });
  try {
    const promise = typeof work === "function" ? Promise.resolve().then(() => work(controller.signal)) : work;
    const result = await race(ms, promise);
    if (result !== TIMED_OUT) return result;
    const message = `timed out after ${ms} ms waiting for ${step}`;
    controller.abort(new WaitTimeout(step, message));
    throw report ? await timeoutError(step, message) : new WaitTimeout(step, message);
  } finally {
    done();
  }
}

/**
 * Polls `probe` (async, returns a truthy value when done) until it succeeds or `timeoutMs` passes;
 * each probe is bounded by what is left of that time. `failIf` (optional) returns a reason string
 * when waiting longer cannot help (a message was dead-lettered, the stack cannot store data): the
 * wait then fails at once with that reason.
 */
export async function waitFor(probe, { timeoutMs = 120_000, intervalMs = 250, what = "condition", failIf } = {}) {
  const deadline = Date.now() + timeoutMs;
  const done = inFlight.add({ step: what, since: Date.now() });
  try {
    let lastError = null;
    for (;;) {
      try {
        const last = await race(Math.max(1, deadline - Date.now()), Promise.resolve().then(probe));
        if (last === TIMED_OUT) lastError = new Error("the last probe itself did not finish");
        else if (last) return last;
        else lastError = null;
      } catch (e) {
        lastError = e;
      }
      const hopeless = failIf?.();
      if (hopeless) throw await timeoutError(what, `gave up waiting for ${what}: ${hopeless}`);
      if (Date.now() >= deadline) {
        const why = lastError ? ` (last error: ${lastError.message})` : "";
        throw await timeoutError(what, `timed out after ${timeoutMs} ms waiting for ${what}${why}`);
      }
      await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(1, deadline - Date.now()))));
    }
  } finally {
    done();
  }
}

/**
 * fetch (or Miniflare's dispatchFetch: `using`) with a limit on the whole exchange, body included:
 * the response comes back fully read, so reading it later cannot hang.
 */
export function boundedFetch(url, init = {}, { timeoutMs = 30_000, what, using = fetch } = {}) {
  const step = what ?? `${init.method ?? "GET"} ${url}`;
  return within(timeoutMs, step, async (signal) => {
    const res = await using(url, { ...init, signal });
    const body = await res.arrayBuffer();
    const nullBody = [101, 204, 205, 304].includes(res.status);
    return new Response(nullBody ? null : body, { status: res.status, statusText: res.statusText, headers: res.headers });
  });
}

/**
 * Runs `fn` (the body of a node:test test). When node:test gives up on the test (its own timeout
 * fired while `fn` still runs), writes which waits were in progress and the state report to stderr,
 * where the test runner shows it next to the test.
 */
export async function reportIfAbandoned(t, fn) {
  let settled = false;
  const onAbort = () => {
    if (settled) return;
    const waits = waitsInProgress();
    void describeState().then((state) =>
      process.stderr.write(
        `# "${t.name}" was stopped while waiting for:\n${waits.map((w) => `#   ${w}`).join("\n") || "#   (no bounded wait in progress)"}\n${state}\n`,
      ),
    );
  };
  t.signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await fn();
  } finally {
    settled = true;
    t.signal.removeEventListener("abort", onAbort);
  }
}
