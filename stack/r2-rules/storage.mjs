// Looks at the catalog bucket through the S3 API, for createTable's documented rule "The table
// location must not already contain files": ListObjectsV2 with max-keys=1, SigV4-signed.
import { createHash, createHmac } from "node:crypto";

const sha256 = (data) => createHash("sha256").update(data).digest("hex");
const hmac = (key, data) => createHmac("sha256", key).update(data).digest();

// RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves !'()* alone).
const encode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Headers that sign a GET of `url` (path-style, no body) for service s3. */
export function signGet(url, { accessKeyId, secretAccessKey, region }, date = new Date()) {
  const amzDate = date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const payloadHash = sha256("");
  const query = [...url.searchParams].map(([k, v]) => [encode(k), encode(v)]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonicalQuery = query.map(([k, v]) => `${k}=${v}`).join("&");
  const canonicalPath = url.pathname.split("/").map((s) => encode(decodeURIComponent(s))).join("/");
  const headers = { host: url.host, "x-amz-content-sha256": payloadHash, "x-amz-date": amzDate };
  const signedHeaders = Object.keys(headers).sort().join(";");
  const canonicalHeaders = Object.keys(headers).sort().map((k) => `${k}:${headers[k]}\n`).join("");
  const canonicalRequest = ["GET", canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join("\n");
  const scope = `${day}/${region}/s3/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonicalRequest)].join("\n");
  let key = hmac(`AWS4${secretAccessKey}`, day);
  for (const part of [region, "s3", "aws4_request"]) key = hmac(key, part);
  const signature = createHmac("sha256", key).update(stringToSign).digest("hex");
  return {
    "x-amz-content-sha256": payloadHash,
    "x-amz-date": amzDate,
    authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

/** `s3://bucket/a/b` -> { bucket, prefix: "a/b/" }, or null for anything else. */
export function parseS3Location(location) {
  const m = /^s3a?:\/\/([^/]+)\/?(.*)$/.exec(location ?? "");
  if (!m) return null;
  const prefix = m[2].replace(/\/*$/, "");
  return { bucket: m[1], prefix: prefix ? `${prefix}/` : "" };
}

/** True when at least one object lies under `prefix` in `bucket`. */
export async function hasObjects(s3, bucket, prefix) {
  const url = new URL(`${s3.endpoint.replace(/\/+$/, "")}/${encode(bucket)}`);
  url.searchParams.set("list-type", "2");
  url.searchParams.set("max-keys", "1");
  url.searchParams.set("prefix", prefix);
  const r = await fetch(url, { headers: signGet(url, s3), signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  if (!r.ok) throw new Error(`S3 ListObjectsV2 of s3://${bucket}/${prefix}: HTTP ${r.status} ${text.slice(0, 200)}`);
  return /<Contents>/.test(text);
}
