// One raw file through a running convert Worker, for the bench scripts (worker_convert.mjs,
// profile_worker.mjs): put it into the local RAW bucket (untimed), send its R2 notification and
// wait for the Worker's batch line. beforeSend runs between the two (start a clock, a profiler).
import { rawKey } from "../harness/lib/fixtures.mjs";
import { Notifier } from "../harness/lib/notifier.mjs";

/** Returns {batch, ms}: the batch log line and the milliseconds from the notification to it. */
export async function convertOnce(w, { file, resource, name = "bench-0", timeoutMs, beforeSend = async () => {} }) {
  const notifier = new Notifier(w.mf);
  const obj = await notifier.put(rawKey("bench", resource, name), { file });
  const from = w.logs.lines.length;
  await beforeSend();
  const sent = performance.now();
  await notifier.send([notifier.notification(obj)]);
  const batch = await w.logs.waitFor((j) => j?.event === "batch", { from, timeoutMs, what: "the batch log line" });
  const ms = performance.now() - sent;
  if (Number(batch.acked) !== 1 || (batch.errors ?? []).length) {
    throw new Error(`the Worker did not convert ${file}: ${JSON.stringify(batch)}\n${w.logs.text(40)}`);
  }
  return { batch, ms };
}
