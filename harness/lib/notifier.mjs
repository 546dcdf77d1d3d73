// The R2 event notifications Miniflare does not emit. On Cloudflare an object-create under
// `sources/` with suffix `.parquet` sends this JSON to the icepipe-raw-events queue:
//
//   {"account":"<id>","action":"PutObject","bucket":"<raw bucket>",
//    "object":{"key":"...","size":123,"eTag":"<hex, unquoted>"},"eventTime":"2026-...Z"}
//
// Notifier.putRaw() writes an object into the local RAW bucket and sends exactly that message to the
// queue (both through the harness helper Worker, over HTTP: see HARNESS_HELPER in miniflare.mjs);
// Notifier.watch() polls the RAW bucket's `sources/` listing and notifies every new (key, eTag), for
// objects written by someone else (the ingest Worker).
// With `lossRate` it loses that share of the notifications, as R2 may under load (the
// reconciliation sweep's test): deterministically, every 1/lossRate-th one, kept in `dropped`.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { boundedFetch } from "./bounded.mjs";
import { HARNESS_HOST } from "./miniflare.mjs";

export const LOCAL_ACCOUNT = "00000000000000000000000000000000";
export const DEFAULT_BUCKET_NAME = "icepipe-raw";
// The notification rule of DESIGN.md: object-create, prefix "sources/", suffix ".parquet".
export const RULE_PREFIX = "sources/";
export const RULE_SUFFIX = ".parquet";

/** The Cloudflare R2 event notification body for `object` (an R2Object or {key,size,etag}). */
export function notification(object, { action = "PutObject", bucket = DEFAULT_BUCKET_NAME, account = LOCAL_ACCOUNT, eventTime } = {}) {
  return {
    account,
    action,
    bucket,
    object: { key: object.key, size: Number(object.size), eTag: object.etag },
    eventTime: eventTime ?? new Date(object.uploaded ?? Date.now()).toISOString(),
  };
}

export class Notifier {
  /**
   * mf: a Miniflare instance started by startConvert (it runs the harness helper Worker, which
   * reaches the RAW bucket and the raw-events queue for us over HTTP).
   * opts: bucketName (the `bucket` field, default "icepipe-raw"), account,
   *       lossRate (0..1, default 0: the share of notifications lost instead of sent).
   */
  constructor(mf, opts = {}) {
    this.mf = mf;
    this.bucketName = opts.bucketName ?? DEFAULT_BUCKET_NAME;
    this.account = opts.account ?? LOCAL_ACCOUNT;
    this.sent = []; // every notification body sent, in order
    this.lossRate = opts.lossRate ?? 0;
    this.dropped = []; // notifications lost on purpose (lossRate)
    this._offered = 0;
    this._watch = null;
  }

  /** An HTTP exchange with the harness helper Worker (bounded; the body comes back read). */
  async helper(pathAndQuery, init, { timeoutMs = 60_000, what }) {
    const res = await boundedFetch(`http://${HARNESS_HOST}${pathAndQuery}`, init, { timeoutMs, what, using: this.mf.dispatchFetch });
    if (!res.ok && res.status !== 404) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
    return res;
  }

  notification(object, extra = {}) {
    return notification(object, { bucket: this.bucketName, account: this.account, ...extra });
  }

  /**
   * Puts `body` at `key`; returns {key, size, etag, uploaded}. No notification. `body` is a
   * Uint8Array/Buffer/string, or {file: path} for a local file of any size (streamed with its
   * length, which R2 needs for a streamed body).
   */
  async put(key, body) {
    let size;
    let stream;
    if (body && typeof body === "object" && typeof body.file === "string") {
      size = (await stat(body.file)).size;
      stream = Readable.toWeb(createReadStream(body.file));
    } else {
      stream = typeof body === "string" ? Buffer.from(body) : body;
      size = stream.byteLength;
    }
    const res = await this.helper(
      `/object?key=${encodeURIComponent(key)}`,
      { method: "PUT", headers: { "content-length": String(size) }, body: stream, duplex: "half" },
      // A limit that grows with the size: half a second per MB (workerd takes tens of MB/s).
      { timeoutMs: 60_000 + Math.round(size / 1e6) * 500, what: `R2 put of ${key} (${size} bytes)` },
    );
    const obj = await res.json();
    if (obj.size !== size) throw new Error(`R2 put of ${key}: stored ${obj.size} bytes, sent ${size}`);
    return obj;
  }

  /** Every object under `prefix` in RAW: [{key, size, etag, uploaded}]. */
  async list(prefix) {
    const out = [];
    let cursor = null;
    do {
      const q = `prefix=${encodeURIComponent(prefix)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const page = await (await this.helper(`/list?${q}`, {}, { what: `R2 list of ${prefix}` })).json();
      out.push(...page.objects);
      cursor = page.truncated ? page.cursor : null;
    } while (cursor);
    return out;
  }

  /** The body of `key` in RAW as text, or null when there is no such object. */
  async getText(key) {
    const res = await this.helper(`/object?key=${encodeURIComponent(key)}`, {}, { what: `R2 get of ${key}` });
    return res.status === 404 ? null : res.text();
  }

  /**
   * Sends notification bodies to the queue (one message each), in sendBatch chunks of at most 100
   * messages (the Queues limit), as JSON like R2 does. `times` repeats the whole list (redelivery).
   */
  async send(bodies, { times = 1 } = {}) {
    const all = [];
    for (let i = 0; i < times; i++) {
      for (const body of bodies) {
        // Lose exactly lossRate of the notifications offered so far, spread evenly.
        const before = Math.floor(this._offered * this.lossRate);
        this._offered += 1;
        if (Math.floor(this._offered * this.lossRate) > before) this.dropped.push(body);
        else all.push(body);
      }
    }
    for (let i = 0; i < all.length; i += 100) {
      const batch = all.slice(i, i + 100).map((body) => ({ body, contentType: "json" }));
      await this.helper("/send", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(batch) }, {
        what: `sending ${batch.length} notification(s) to the queue`,
      });
    }
    this.sent.push(...all);
    return all.length;
  }

  /** putRaw(key, bytes): put into RAW, then send its PutObject notification. Returns the notification. */
  async putRaw(key, body, extra = {}) {
    const obj = await this.put(key, body);
    const note = this.notification(obj, extra);
    await this.send([note]);
    return note;
  }

  /**
   * Puts every {key, body} first, then sends their notifications together (one queue batch when
   * there are at most 100 and the consumer's max_batch_size allows it). Returns the notifications.
   */
  async putRawMany(items, { times = 1 } = {}) {
    const notes = [];
    for (const { key, body } of items) notes.push(this.notification(await this.put(key, body)));
    await this.send(notes, { times });
    return notes;
  }

  /**
   * Watcher mode: polls the RAW bucket under `sources/` every `intervalMs` and sends a PutObject
   * notification for every new (key, eTag) that matches the rule (suffix .parquet). Objects present
   * when the watcher starts are notified only with `emitExisting`. Returns {started, poll(), stop()}:
   * `started` resolves once the first listing (what counts as existing) is done, so await it before
   * writing objects that must be notified; stop() resolves once a poll in progress has finished.
   */
  watch({ intervalMs = 1000, emitExisting = false, onNotify, onError } = {}) {
    if (this._watch) return this._watch;
    const seen = new Map(); // key -> etag
    let first = true;
    let timer = null;
    let running = null;
    let stopped = false;
    const poll = () => {
      if (running || stopped) return Promise.resolve(0);
      running = pollOnce().finally(() => (running = null));
      return running;
    };
    const pollOnce = async () => {
      try {
        const fresh = [];
        for (const o of await this.list(RULE_PREFIX)) {
          if (!o.key.endsWith(RULE_SUFFIX)) continue;
          if (seen.get(o.key) === o.etag) continue;
          seen.set(o.key, o.etag);
          if (!first || emitExisting) fresh.push(this.notification(o));
        }
        first = false;
        if (fresh.length) {
          await this.send(fresh);
          onNotify?.(fresh);
        }
        return fresh.length;
      } catch (e) {
        if (onError) onError(e);
        else process.stderr.write(`[notifier] watch poll failed: ${e.stack ?? e}\n`);
        return 0;
      }
    };
    const tick = async () => {
      await poll();
      if (!stopped) timer = setTimeout(tick, intervalMs);
    };
    const started = tick();
    this._watch = {
      started,
      poll,
      stop: async () => {
        stopped = true;
        clearTimeout(timer);
        this._watch = null;
        await running;
      },
    };
    return this._watch;
  }
}
