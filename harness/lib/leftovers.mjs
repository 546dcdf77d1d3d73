// What the harness started and has not closed yet (Miniflare instances, HTTP servers). A test that
// fails or is stopped by its timeout may leave some open; each test file's after() hook closes them
// (closeLeftovers), so the file's process can exit when its tests end, and says which they were.
import assert from "node:assert/strict";
import { Registry, within } from "./bounded.mjs";

const open = new Registry();

/** Records an open part; returns the function to call once it is closed. */
export function opened(label, close) {
  return open.add({ label, close });
}

/**
 * Closes everything still open (each bounded); returns what was left open, one label each, with
 * the reason when it could not be closed either (--test-force-exit then ends the process).
 */
export async function closeLeftovers({ timeoutMs = 60_000 } = {}) {
  const left = [];
  for (const { label, close } of open.values({ take: true })) {
    try {
      await within(timeoutMs, `${label} to close`, close, { report: false });
      left.push(label);
    } catch (e) {
      left.push(`${label} (could not be closed: ${e.message})`);
    }
  }
  return left;
}

/** For each test file's after() hook: closes what the tests left open and fails if they left any. */
export async function assertNothingLeftOpen() {
  const left = await closeLeftovers();
  assert.deepEqual(left, [], "tests left these open (closed now unless said otherwise)");
}
