// The whole pipeline on one machine: the bundled sample API -> the ingest Worker -> the RAW bucket
// -> notifications (the watcher stands in for R2 event notifications) -> the convert Worker ->
// Iceberg tables in the local stack. Used by the end-to-end test and by scripts/demo.
//
//   const p = await startPipeline({ sampleApi: { posts: 30 } });
//   const report = await p.runSource("api_jsonplaceholder");   // POST /sources/<s>/run
//   await p.waitConverted();                                    // every raw file acknowledged
//   await p.dispose();
import { randomBytes } from "node:crypto";
import { startSampleApi } from "../sample_api.mjs";
import { waitFor, within } from "./bounded.mjs";
import { opened } from "./leftovers.mjs";
import { INGEST_HOST, ingestWorker, startConvert } from "./miniflare.mjs";
import { Notifier } from "./notifier.mjs";

/** The source of config/sources.toml that the sample API stands in for. */
export const SAMPLE_SOURCE = "api_jsonplaceholder";

/**
 * Options: sampleApi (startSampleApi options), namespaceRoot, adminToken, persistDir, port,
 * ingestPort, queue, convertBindings, echo, pollMs (watcher interval, default 300).
 */
export async function startPipeline(opts = {}) {
  // Both Workers take the same admin token.
  const adminToken = opts.adminToken ?? `test-${randomBytes(12).toString("hex")}`;
  const api = await startSampleApi({ port: 0, ...(opts.sampleApi ?? {}) });
  let closed = null;
  const closeApi = () => (closed ??= within(10_000, `the sample API on ${api.url} to close`, api.close(), { report: false }).finally(forgetApi));
  const forgetApi = opened(`sample API on ${api.url}`, closeApi);
  let w;
  try {
    w = await startConvert({
      namespaceRoot: opts.namespaceRoot,
      adminToken,
      persistDir: opts.persistDir,
      port: opts.port,
      echo: opts.echo,
      queue: { maxBatchTimeout: 1, ...(opts.queue ?? {}) },
      bindings: opts.convertBindings,
      extraWorkers: [
        ingestWorker({ adminToken, baseUrls: { [SAMPLE_SOURCE]: api.url }, port: opts.ingestPort }),
      ],
    });
  } catch (e) {
    await closeApi();
    throw e;
  }
  const notifier = new Notifier(w.mf);
  const notified = [];
  const watcher = notifier.watch({ intervalMs: opts.pollMs ?? 300, onNotify: (notes) => notified.push(...notes) });
  // Objects the first listing sees count as existing and are never notified: nothing may land first.
  await watcher.started;

  /**
   * HTTP into the ingest Worker, with the admin token unless `token` says otherwise (null: none);
   * bounded (`timeoutMs`, default 2 minutes: a run of the sample API takes seconds).
   */
  const ingestFetch = (path, init = {}, token = w.adminToken, { timeoutMs = 120_000 } = {}) =>
    w.dispatch(
      `http://${INGEST_HOST}${path}`,
      { ...init, headers: { ...(init.headers ?? {}), ...(token === null ? {} : { authorization: `Bearer ${token}` }) } },
      { timeoutMs, what: `${init.method ?? "GET"} ${path} on the ingest Worker` },
    );

  const acked = () => w.batches().reduce((n, b) => n + Number(b.acked ?? 0), 0);

  return {
    api,
    convert: w,
    namespaceRoot: w.namespaceRoot,
    adminToken: w.adminToken,
    notified,
    ingestFetch,
    /** POST /sources/<source>/run[?resource=]; returns { status, report }. */
    async runSource(source = SAMPLE_SOURCE, resource) {
      const q = resource ? `?resource=${encodeURIComponent(resource)}` : "";
      const r = await ingestFetch(`/sources/${source}/run${q}`, { method: "POST" });
      return { status: r.status, report: await r.json() };
    },
    /** Fires the ingest Worker's scheduled handler as the `cron` trigger would; returns { outcome }. */
    async fireCron(cron) {
      const r = await ingestFetch(`/cdn-cgi/handler/scheduled?cron=${encodeURIComponent(cron)}&time=${Date.now()}`, {}, null);
      return { outcome: await r.text() };
    },
    /** `{"event":"run",...}` lines the ingest Worker logged so far. */
    runs: () => w.logs.records("run"),
    /** POST /events/<source>/<resource> with `body` (string or Buffer); returns { status, json }. */
    async pushEvents(source, resource, body, { contentType = "application/x-ndjson", token, idempotencyKey } = {}) {
      const headers = { "content-type": contentType, ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}) };
      const r = await ingestFetch(`/events/${source}/${resource}`, { method: "POST", headers, body }, token);
      return { status: r.status, json: await r.json() };
    },
    /**
     * Waits until every raw file written so far has been notified and acknowledged by the convert
     * Worker (`keys`: the raw keys a run or push reported).
     */
    async waitConverted(keys, { timeoutMs = 120_000, failIf } = {}) {
      await watcher.poll();
      const want = new Set(keys);
      await waitFor(() => [...want].every((k) => notified.some((n) => n.object.key === k)), {
        timeoutMs,
        what: `notifications for ${want.size} raw file(s)`,
        failIf,
      });
      const total = notified.length;
      return waitFor(() => acked() >= total, { timeoutMs, what: `${total} acknowledged notifications`, failIf });
    },
    /**
     * Sends the notifications of raw files `keys` (already notified) to the queue again, as a
     * queue redelivering them would, and waits until the convert Worker acknowledged them again.
     */
    async redeliver(keys, { timeoutMs = 120_000, failIf } = {}) {
      const notes = keys.map((k) => notified.find((n) => n.object.key === k));
      const missing = keys.filter((_, i) => !notes[i]);
      if (missing.length) throw new Error(`never notified, so nothing to redeliver: ${missing.join(", ")}`);
      const before = acked();
      await notifier.send(notes);
      return waitFor(() => acked() >= before + notes.length, { timeoutMs, what: `${notes.length} redelivered notification(s) acknowledged`, failIf });
    },
    async dispose() {
      // A poll in flight finishes (or fails) before the Workers go away.
      await watcher.stop();
      try {
        await w.dispose();
      } finally {
        await closeApi();
      }
    },
  };
}

/** Every raw key a run report lists. */
export function reportFiles(report) {
  return (report.resources ?? []).flatMap((r) => r.files ?? []);
}
