// What the harness started and has not closed yet (Miniflare instances, HTTP servers). A test that
// fails or is stopped by its timeout may leave some open; each test file's after() hook closes them
// (closeLeftovers), so the file's process can exit when its tests end, and says which they were.
import { Registry, within } from "./bounded.mjs";

const open = new Registry();

/** Records an open part; returns the function to call once it is closed. */
export function opened(label, close) {
  return open.add({ label, close });
}

/** Closes everything still open (each bounded); returns the labels of what was left open. */
export async function closeLeftovers({ timeoutMs = 60_000 } = {}) {
  const left = open.values({ take: true });
  for (const { label, close } of left) {
    try {
      await within(timeoutMs, `${label} to close`, close, { report: false });
    } catch (e) {
      process.stderr.write(`# closing ${label} failed: ${e.message}\n`);
    }
  }
  return left.map((l) => l.label);
}
