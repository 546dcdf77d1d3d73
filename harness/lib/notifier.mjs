// The R2 event notifications Miniflare does not emit. On Cloudflare an object-create under
// `sources/` with suffix `.parquet` sends this JSON to the icepipe-raw-events queue:
//
//   {"account":"<id>","action":"PutObject","bucket":"<raw bucket>",
//    "object":{"key":"...","size":123,"eTag":"<hex, unquoted>"},"eventTime":"2026-...Z"}
//
// Notifier.putRaw() writes an object into the local RAW bucket and sends exactly that message
// through the Worker's own producer binding; Notifier.watch() polls the RAW bucket's `sources/`
// listing and notifies every new (key, eTag), for objects written by someone else (the ingest Worker).
// With `lossRate` it loses that share of the notifications, as R2 may under load (the
// reconciliation sweep's test): deterministically, every 1/lossRate-th one, kept in `dropped`.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";

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
   * mf: a Miniflare instance running a Worker with the RAW bucket and the RAW_EVENTS producer.
   * opts: bucketBinding ("RAW"), producerBinding ("RAW_EVENTS"), workerName ("convert"),
   *       bucketName (the `bucket` field, default "icepipe-raw"), account,
   *       lossRate (0..1, default 0: the share of notifications lost instead of sent).
   */
  constructor(mf, opts = {}) {
    this.mf = mf;
    this.bucketBinding = opts.bucketBinding ?? "RAW";
    this.producerBinding = opts.producerBinding ?? "RAW_EVENTS";
    this.workerName = opts.workerName ?? "convert";
    this.bucketName = opts.bucketName ?? DEFAULT_BUCKET_NAME;
    this.account = opts.account ?? LOCAL_ACCOUNT;
    this.loaderWorker = opts.loaderWorker ?? "harness-r2-loader";
    this.sent = []; // every notification body sent, in order
    this.lossRate = opts.lossRate ?? 0;
    this.dropped = []; // notifications lost on purpose (lossRate)
    this._offered = 0;
    this._bucket = null;
    this._producer = null;
    this._watch = null;
  }

  async bucket() {
    this._bucket ??= await this.mf.getR2Bucket(this.bucketBinding, this.workerName);
    return this._bucket;
  }

  async producer() {
    this._producer ??= await this.mf.getQueueProducer(this.producerBinding, this.workerName);
    return this._producer;
  }

  notification(object, extra = {}) {
    return notification(object, { bucket: this.bucketName, account: this.account, ...extra });
  }

  /**
   * Puts `body` at `key`; returns {key, size, etag, uploaded}. No notification. `body` is a
   * Uint8Array/Buffer/string, or {file: path} for a local file of any size (streamed through the
   * harness's R2 loader Worker: Miniflare's R2 proxy cannot take a body over 512 MB from Node).
   */
  async put(key, body) {
    if (body && typeof body === "object" && typeof body.file === "string") return this.putFile(key, body.file);
    const bucket = await this.bucket();
    // A Node Buffer is often a view into a shared pool; Miniflare's proxy serializer wants a view of
    // a whole ArrayBuffer, so copy it into one.
    if (ArrayBuffer.isView(body)) body = new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    const obj = await bucket.put(key, body);
    if (!obj) throw new Error(`R2 put of ${key} returned null`);
    return { key: obj.key, size: obj.size, etag: obj.etag, uploaded: obj.uploaded };
  }

  async putFile(key, file) {
    const { size } = await stat(file);
    this._loader ??= await this.mf.getWorker(this.loaderWorker);
    const res = await this._loader.fetch(`http://r2-loader/?key=${encodeURIComponent(key)}`, {
      method: "PUT",
      headers: { "content-length": String(size) },
      body: Readable.toWeb(createReadStream(file)),
      duplex: "half",
    });
    if (!res.ok) throw new Error(`R2 put of ${key} (${file}, ${size} bytes) failed: HTTP ${res.status} ${await res.text()}`);
    const obj = await res.json();
    if (obj.size !== size) throw new Error(`R2 put of ${key}: stored ${obj.size} bytes, file has ${size}`);
    return obj;
  }

  /**
   * Sends notification bodies to the queue (one message each), in sendBatch chunks of at most 100
   * messages (the Queues limit), as JSON like R2 does. `times` repeats the whole list (redelivery).
   */
  async send(bodies, { times = 1 } = {}) {
    const producer = await this.producer();
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
      await producer.sendBatch(all.slice(i, i + 100).map((body) => ({ body, contentType: "json" })));
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
   * when the watcher starts are notified only with `emitExisting`. Returns {stop(), poll()}.
   */
  watch({ intervalMs = 1000, emitExisting = false, onNotify, onError } = {}) {
    if (this._watch) return this._watch;
    const seen = new Map(); // key -> etag
    let first = true;
    let timer = null;
    let running = false;
    let stopped = false;
    const poll = async () => {
      if (running || stopped) return 0;
      running = true;
      try {
        const bucket = await this.bucket();
        const fresh = [];
        let cursor;
        do {
          const page = await bucket.list({ prefix: RULE_PREFIX, cursor, limit: 1000 });
          for (const o of page.objects) {
            if (!o.key.endsWith(RULE_SUFFIX)) continue;
            if (seen.get(o.key) === o.etag) continue;
            seen.set(o.key, o.etag);
            if (!first || emitExisting) fresh.push(this.notification(o));
          }
          cursor = page.truncated ? page.cursor : undefined;
        } while (cursor);
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
      } finally {
        running = false;
      }
    };
    const tick = async () => {
      await poll();
      if (!stopped) timer = setTimeout(tick, intervalMs);
    };
    timer = setTimeout(tick, 0);
    this._watch = {
      poll,
      stop: () => {
        stopped = true;
        clearTimeout(timer);
        this._watch = null;
      },
    };
    return this._watch;
  }
}
