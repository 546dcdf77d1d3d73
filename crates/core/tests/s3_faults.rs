//! S3Store against a fake S3 (wiremock): error mapping, ranged-read checks, multipart protocol,
//! ListObjectsV2 pagination, and the reqwest client's error kinds.
#![cfg(feature = "native")]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use icepipe_core::clock::SystemClock;
use icepipe_core::http::{HttpClient, HttpError, HttpRequest, Method, ReqwestHttpClient};
use icepipe_core::storage::s3::{S3Config, S3Resolver, S3Store, MIN_PART_SIZE};
use icepipe_core::storage::{ObjectStore, StorageError, StoreResolver};
use wiremock::matchers::{
    header, method, path, query_param, query_param_contains, query_param_is_missing,
};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const UPLOAD_ID: &str = "upload-123";

fn config(server: &MockServer) -> S3Config {
    S3Config {
        endpoint: server.uri(),
        region: "us-east-1".into(),
        access_key_id: "key".into(),
        secret_access_key: "secret".into(),
        path_style: true,
    }
}

fn store(server: &MockServer) -> S3Store {
    S3Store::new(
        &config(server),
        "bkt",
        Arc::new(ReqwestHttpClient::with_timeout(Duration::from_secs(10))),
        Arc::new(SystemClock),
    )
    .unwrap()
    .with_part_size(MIN_PART_SIZE)
}

fn s3_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><Resource>/bkt/k</Resource></Error>"
    )
}

async fn requests(server: &MockServer, verb: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == verb)
        .collect()
}

fn query(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn head_404_is_not_found_naming_the_location() {
    let server = MockServer::start().await;
    Mock::given(method("HEAD"))
        .and(path("/bkt/dir/k"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let err = store(&server).head("dir/k").await.unwrap_err();
    assert!(
        matches!(&err, StorageError::NotFound { location } if location == "s3://bkt/dir/k"),
        "{err:?}"
    );
}

#[tokio::test]
async fn request_is_presigned_with_sigv4() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/bkt/k"))
        .and(query_param("X-Amz-Algorithm", "AWS4-HMAC-SHA256"))
        .respond_with(ResponseTemplate::new(200).set_body_string("body"))
        .mount(&server)
        .await;
    assert_eq!(store(&server).get("k").await.unwrap(), "body");
    let get = &requests(&server, "GET").await[0];
    assert!(query(get, "X-Amz-Credential").unwrap().starts_with("key/"));
    assert!(query(get, "X-Amz-Signature").is_some());
}

#[tokio::test]
async fn forbidden_is_denied_with_s3_code_and_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/bkt/k"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_string(s3_error("SignatureDoesNotMatch", "The signature is wrong")),
        )
        .mount(&server)
        .await;
    match store(&server).get("k").await.unwrap_err() {
        StorageError::Denied { location, reason } => {
            assert_eq!(location, "s3://bkt/k");
            assert!(reason.contains("SignatureDoesNotMatch"), "{reason}");
            assert!(reason.contains("The signature is wrong"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn put_if_absent_412_is_already_exists() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/bkt/k"))
        .and(header("if-none-match", "*"))
        .respond_with(
            ResponseTemplate::new(412).set_body_string(s3_error("PreconditionFailed", "exists")),
        )
        .mount(&server)
        .await;
    let err = store(&server)
        .put_if_absent("k", Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::AlreadyExists { location } if location == "s3://bkt/k"),
        "{err:?}"
    );
}

#[tokio::test]
async fn server_error_is_other_with_status_and_body() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500).set_body_string("volume server exploded"))
        .mount(&server)
        .await;
    match store(&server)
        .put("k", Bytes::from_static(b"x"))
        .await
        .unwrap_err()
    {
        StorageError::Other { location, reason } => {
            assert_eq!(location, "s3://bkt/k");
            assert!(reason.contains("500"), "{reason}");
            assert!(reason.contains("volume server exploded"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn transport_error_is_other_naming_the_location() {
    // Nothing listens on the discard port.
    let config = S3Config {
        endpoint: "http://127.0.0.1:9".into(),
        region: "us-east-1".into(),
        access_key_id: "key".into(),
        secret_access_key: "secret".into(),
        path_style: true,
    };
    let store = S3Store::new(
        &config,
        "bkt",
        Arc::new(ReqwestHttpClient::new()),
        Arc::new(SystemClock),
    )
    .unwrap();
    match store.get("k").await.unwrap_err() {
        StorageError::Other { location, reason } => {
            assert_eq!(location, "s3://bkt/k");
            assert!(reason.contains("connect"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ranged_read_sends_range_and_checks_the_answer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/bkt/good"))
        .and(header("range", "bytes=10-14"))
        .respond_with(ResponseTemplate::new(206).set_body_string("abcde"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bkt/short"))
        .respond_with(ResponseTemplate::new(206).set_body_string("abc"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bkt/ignored"))
        .respond_with(ResponseTemplate::new(200).set_body_string("0123456789abcdefghij"))
        .mount(&server)
        .await;
    let store = store(&server);

    assert_eq!(store.get_range("good", 10..15).await.unwrap(), "abcde");
    assert!(store.get_range("good", 3..3).await.unwrap().is_empty());

    match store.get_range("short", 10..15).await.unwrap_err() {
        StorageError::Other { location, reason } => {
            assert_eq!(location, "s3://bkt/short");
            assert!(reason.contains("3 bytes instead of 5"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A server that ignores Range and sends the whole object must not be taken for the range.
    match store.get_range("ignored", 10..15).await.unwrap_err() {
        StorageError::Other { reason, .. } => assert!(reason.contains("200"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

/// Answers UploadPart with an ETag derived from the part number.
struct PartEtag;

impl Respond for PartEtag {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let part = query(request, "partNumber").unwrap();
        ResponseTemplate::new(200).insert_header("etag", format!("\"etag-{part}\""))
    }
}

async fn mount_create_upload(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/bkt/big"))
        .and(query_param_contains("uploads", ""))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>bkt</Bucket><Key>big</Key><UploadId>{UPLOAD_ID}</UploadId></InitiateMultipartUploadResult>"
        )))
        .expect(1)
        .mount(server)
        .await;
}

async fn mount_abort(server: &MockServer) {
    Mock::given(method("DELETE"))
        .and(path("/bkt/big"))
        .and(query_param("uploadId", UPLOAD_ID))
        .respond_with(ResponseTemplate::new(204))
        .mount(server)
        .await;
}

/// 11 MiB in 1 MiB chunks.
fn eleven_mib() -> Vec<Bytes> {
    (0..11u8)
        .map(|i| Bytes::from(vec![i; 1024 * 1024]))
        .collect()
}

#[tokio::test]
async fn multipart_uploads_exact_parts_then_completes_with_their_etags() {
    let server = MockServer::start().await;
    mount_create_upload(&server).await;
    Mock::given(method("PUT"))
        .and(path("/bkt/big"))
        .and(query_param("uploadId", UPLOAD_ID))
        .respond_with(PartEtag)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/bkt/big"))
        .and(query_param("uploadId", UPLOAD_ID))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>x</Location><Bucket>bkt</Bucket><Key>big</Key><ETag>\"final-3\"</ETag></CompleteMultipartUploadResult>",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let mut writer = store(&server).writer("big").await.unwrap();
    for chunk in eleven_mib() {
        writer.write(chunk).await.unwrap();
    }
    assert_eq!(writer.finish().await.unwrap(), 11 * 1024 * 1024);

    let parts = requests(&server, "PUT").await;
    let numbers: Vec<_> = parts
        .iter()
        .map(|r| query(r, "partNumber").unwrap())
        .collect();
    assert_eq!(numbers, ["1", "2", "3"]);
    let sizes: Vec<_> = parts.iter().map(|r| r.body.len()).collect();
    assert_eq!(sizes, [MIN_PART_SIZE, MIN_PART_SIZE, 1024 * 1024]);
    // Bytes arrive in order across part boundaries: part 2 starts inside chunk 5.
    assert_eq!(parts[1].body[0], 5);
    assert_eq!(parts[2].body[0], 10);

    let posts = requests(&server, "POST").await;
    assert_eq!(posts.len(), 2);
    // rusty-s3 escapes the quotes of the ETags (valid XML, S3 accepts it).
    let complete = String::from_utf8(posts[1].body.clone()).unwrap();
    for n in 1..=3 {
        assert!(
            complete.contains(&format!(
                "<Part><ETag>&quot;etag-{n}&quot;</ETag><PartNumber>{n}</PartNumber></Part>"
            )),
            "{complete}"
        );
    }
    assert!(requests(&server, "DELETE").await.is_empty());
}

#[tokio::test]
async fn failed_part_aborts_the_upload() {
    let server = MockServer::start().await;
    mount_create_upload(&server).await;
    Mock::given(method("PUT"))
        .and(path("/bkt/big"))
        .and(query_param("uploadId", UPLOAD_ID))
        .respond_with(ResponseTemplate::new(503).set_body_string(s3_error("SlowDown", "busy")))
        .mount(&server)
        .await;
    mount_abort(&server).await;

    let mut writer = store(&server).writer("big").await.unwrap();
    let mut failure = None;
    for chunk in eleven_mib() {
        if let Err(e) = writer.write(chunk).await {
            failure = Some(e);
            break;
        }
    }
    match failure.expect("a part upload failed") {
        StorageError::Other { location, reason } => {
            assert_eq!(location, "s3://bkt/big");
            assert!(reason.contains("SlowDown"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let deletes = requests(&server, "DELETE").await;
    assert_eq!(deletes.len(), 1);
    assert_eq!(query(&deletes[0], "uploadId").unwrap(), UPLOAD_ID);
    // The writer is closed: nothing completes afterwards.
    assert!(writer.finish().await.is_err());
    assert_eq!(requests(&server, "POST").await.len(), 1);
}

#[tokio::test]
async fn complete_answering_200_with_error_body_fails_and_aborts() {
    let server = MockServer::start().await;
    mount_create_upload(&server).await;
    Mock::given(method("PUT"))
        .and(path("/bkt/big"))
        .and(query_param("uploadId", UPLOAD_ID))
        .respond_with(PartEtag)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/bkt/big"))
        .and(query_param("uploadId", UPLOAD_ID))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(s3_error("InternalError", "try again")),
        )
        .mount(&server)
        .await;
    mount_abort(&server).await;

    let mut writer = store(&server).writer("big").await.unwrap();
    for chunk in eleven_mib() {
        writer.write(chunk).await.unwrap();
    }
    match writer.finish().await.unwrap_err() {
        StorageError::Other { reason, .. } => assert!(reason.contains("InternalError"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(requests(&server, "DELETE").await.len(), 1);
}

#[tokio::test]
async fn explicit_abort_drops_the_upload() {
    let server = MockServer::start().await;
    mount_create_upload(&server).await;
    Mock::given(method("PUT"))
        .and(path("/bkt/big"))
        .and(query_param("uploadId", UPLOAD_ID))
        .respond_with(PartEtag)
        .mount(&server)
        .await;
    mount_abort(&server).await;

    let mut writer = store(&server).writer("big").await.unwrap();
    for chunk in eleven_mib().into_iter().take(6) {
        writer.write(chunk).await.unwrap();
    }
    writer.abort().await.unwrap();
    assert_eq!(requests(&server, "DELETE").await.len(), 1);
    assert_eq!(requests(&server, "PUT").await.len(), 1);
}

#[tokio::test]
async fn small_writer_object_is_one_plain_put() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/bkt/small"))
        .and(query_param_is_missing("uploadId"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;

    let mut writer = store(&server).writer("small").await.unwrap();
    writer.write(Bytes::from_static(b"hello ")).await.unwrap();
    writer.write(Bytes::from_static(b"world")).await.unwrap();
    assert_eq!(writer.finish().await.unwrap(), 11);

    let puts = requests(&server, "PUT").await;
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].body, b"hello world");
    assert!(requests(&server, "POST").await.is_empty());
}

fn list_page(keys: &[&str], next: Option<&str>) -> String {
    let contents: String = keys
        .iter()
        .map(|k| {
            format!(
                "<Contents><Key>{k}</Key><LastModified>2024-05-01T10:00:00.000Z</LastModified><ETag>\"e-{k}\"</ETag><Size>7</Size><StorageClass>STANDARD</StorageClass></Contents>"
            )
        })
        .collect();
    let tail = match next {
        Some(token) => {
            format!("<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>")
        }
        None => "<IsTruncated>false</IsTruncated>".to_string(),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bkt</Name><Prefix>p/</Prefix><KeyCount>{}</KeyCount><MaxKeys>2</MaxKeys><EncodingType>url</EncodingType>{tail}{contents}</ListBucketResult>",
        keys.len()
    )
}

#[tokio::test]
async fn list_follows_continuation_tokens() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/bkt/"))
        .and(query_param("list-type", "2"))
        .and(query_param("prefix", "p/"))
        .and(query_param_is_missing("continuation-token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(list_page(&["p/a", "p/b"], Some("tok+1/="))),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bkt/"))
        .and(query_param("continuation-token", "tok+1/="))
        .respond_with(ResponseTemplate::new(200).set_body_string(list_page(&["p/c%20d"], None)))
        .mount(&server)
        .await;

    let listed = store(&server).list("p/").await.unwrap();
    let keys: Vec<_> = listed.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, ["p/a", "p/b", "p/c d"]);
    assert_eq!(listed[0].etag, "e-p/a");
    assert_eq!(listed[0].size, 7);
    assert_eq!(listed[0].last_modified_ms, 1_714_557_600_000);
}

#[tokio::test]
async fn resolver_caches_one_store_per_bucket() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/other/k"))
        .respond_with(ResponseTemplate::new(200).set_body_string("v"))
        .mount(&server)
        .await;
    let resolver = S3Resolver::new(
        config(&server),
        Arc::new(ReqwestHttpClient::new()),
        Arc::new(SystemClock),
    );
    let a = resolver.s3_store("other").unwrap();
    let b = resolver.s3_store("other").unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let store = resolver.store_for_bucket("other").unwrap();
    assert_eq!(store.describe("k"), "s3://other/k");
    assert_eq!(store.get("k").await.unwrap(), "v");
}

#[tokio::test]
async fn reqwest_client_reports_timeouts_and_lowercases_headers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/fast"))
        .respond_with(ResponseTemplate::new(200).insert_header("X-Custom-Header", "v"))
        .mount(&server)
        .await;
    let client = ReqwestHttpClient::with_timeout(Duration::from_millis(300));

    let err = client
        .send(HttpRequest::new(
            Method::Get,
            format!("{}/slow", server.uri()),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err:?}");

    let response = client
        .send(HttpRequest::new(
            Method::Get,
            format!("{}/fast", server.uri()),
        ))
        .await
        .unwrap();
    assert!(response
        .headers
        .iter()
        .any(|(k, v)| k == "x-custom-header" && v == "v"));
}
