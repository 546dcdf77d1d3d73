//! Fault injection for the REST catalog client against wiremock: retries, token refresh, commit
//! outcome classification, error messages.
#![cfg(feature = "native")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use iceberg::{NamespaceIdent, TableIdent, TableRequirement, TableUpdate};
use icepipe_core::catalog::{CatalogAuth, CatalogConfig, CatalogError, CreateTable, RestCatalog};
use icepipe_core::clock::Clock;
use icepipe_core::http::{
    HttpClient, HttpError, HttpRequest, HttpResponse, Method as HttpMethod, ReqwestHttpClient,
};
use serde_json::json;
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const WAREHOUSE: &str = "s3://wh";
const PREFIX: &str = "pfx";

/// A clock the test controls: `sleep` returns at once but advances time and records the pause.
#[derive(Debug, Default)]
struct FakeClock {
    now_ms: AtomicI64,
    sleeps: Mutex<Vec<Duration>>,
}

impl FakeClock {
    fn advance(&self, by: Duration) {
        self.now_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
    fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().unwrap().clone()
    }
}

#[async_trait]
impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
    async fn sleep(&self, duration: Duration) {
        self.sleeps.lock().unwrap().push(duration);
        self.advance(duration);
    }
}

fn http(timeout: Duration) -> Arc<dyn HttpClient> {
    Arc::new(ReqwestHttpClient::with_timeout(timeout))
}

fn config(server: &MockServer, auth: CatalogAuth) -> CatalogConfig {
    CatalogConfig {
        uri: server.uri(),
        warehouse: WAREHOUSE.to_string(),
        auth,
    }
}

fn oauth() -> CatalogAuth {
    CatalogAuth::ClientCredentials {
        client_id: "icepipe".into(),
        client_secret: "very-secret".into(),
        scope: None,
    }
}

fn table() -> TableIdent {
    TableIdent::from_strs(["raw", "events", "clicks"]).unwrap()
}

const TABLE_PATH: &str = "/v1/pfx/namespaces/raw%1Fevents/tables/clicks";

fn metadata() -> serde_json::Value {
    json!({
        "format-version": 2,
        "table-uuid": "c4eb5561-777e-43a8-98a9-9a71f3784c2a",
        "location": "s3://wh/raw.events/clicks",
        "last-sequence-number": 0,
        "last-updated-ms": 1_700_000_000_000i64,
        "last-column-id": 2,
        "schemas": [{"type": "struct", "schema-id": 0, "fields": [
            {"id": 1, "name": "id", "required": true, "type": "long"},
            {"id": 2, "name": "ts", "required": false, "type": "timestamptz"}]}],
        "current-schema-id": 0,
        "partition-specs": [{"spec-id": 0, "fields": [
            {"source-id": 2, "field-id": 1000, "name": "ts_day", "transform": "day"}]}],
        "default-spec-id": 0,
        "last-partition-id": 1000,
        "properties": {},
        "sort-orders": [{"order-id": 0, "fields": []}],
        "default-sort-order-id": 0,
        "current-snapshot-id": -1,
        "snapshots": [],
        "snapshot-log": [],
        "metadata-log": [],
        "refs": {}
    })
}

fn load_result() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "metadata-location": "s3://wh/raw.events/clicks/metadata/v1.metadata.json",
        "metadata": metadata(),
        "config": {"s3.secret-access-key": "vended-secret"}
    }))
}

fn rest_error(status: u16, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"message": message, "type": kind, "code": status}}))
}

/// `/v1/config` with a prefix, and the warehouse probe `connect` makes.
async fn mount_config(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v1/config"))
        .and(query_param("warehouse", WAREHOUSE))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "defaults": {"warehouse": WAREHOUSE, "write.format": "parquet"},
            "overrides": {"prefix": PREFIX}
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/pfx/namespaces"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"namespaces": []})))
        .mount(server)
        .await;
}

fn token(value: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": value, "token_type": "bearer", "expires_in": expires_in
    }))
}

/// Serves `t1`, then `t2`, then `t3`... in order.
async fn mount_token_sequence(server: &MockServer, tokens: &[&str], expires_in: u64) {
    for value in tokens {
        Mock::given(method("POST"))
            .and(path("/v1/oauth/tokens"))
            .and(body_string_contains("grant_type=client_credentials"))
            .and(body_string_contains("client_secret=very-secret"))
            .and(body_string_contains("scope=catalog"))
            .respond_with(token(value, expires_in))
            .up_to_n_times(1)
            .expect(1)
            .mount(server)
            .await;
    }
}

async fn connect(server: &MockServer, clock: Arc<FakeClock>, auth: CatalogAuth) -> RestCatalog {
    RestCatalog::connect(http(Duration::from_secs(5)), clock, config(server, auth))
        .await
        .expect("connect")
}

fn requests_to(requests: &[Request], method_name: &str, url_path: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.method.as_str() == method_name && r.url.path() == url_path)
        .count()
}

#[tokio::test]
async fn config_prefix_routes_requests_and_merges_properties() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .respond_with(load_result())
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    assert_eq!(catalog.prefix(), Some(PREFIX));
    assert_eq!(catalog.properties()["write.format"], "parquet");
    assert_eq!(catalog.properties()["warehouse"], WAREHOUSE);

    let loaded = catalog.load_table(&table()).await.unwrap();
    assert_eq!(
        loaded.metadata_location.as_deref(),
        Some("s3://wh/raw.events/clicks/metadata/v1.metadata.json")
    );
    assert_eq!(loaded.metadata.location(), "s3://wh/raw.events/clicks");
    assert_eq!(loaded.config["s3.secret-access-key"], "vended-secret");
    // Vended credentials stay out of Debug output.
    assert!(!format!("{loaded:?}").contains("vended-secret"));
}

#[tokio::test]
async fn load_500_is_retried_then_names_uri_warehouse_and_table() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .respond_with(rest_error(500, "ServerError", "backend exploded"))
        .expect(3)
        .mount(&server)
        .await;

    let clock = Arc::new(FakeClock::default());
    let catalog = connect(&server, clock.clone(), CatalogAuth::None).await;
    let err = catalog.load_table(&table()).await.unwrap_err();
    assert!(
        matches!(
            err,
            CatalogError::Server {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    let message = err.to_string();
    for needle in [
        server.uri().as_str(),
        WAREHOUSE,
        "raw.events.clicks",
        "backend exploded",
    ] {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    assert_eq!(
        clock.sleeps(),
        [Duration::from_millis(200), Duration::from_millis(800)]
    );
}

#[tokio::test]
async fn load_503_then_200_succeeds() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .respond_with(load_result())
        .expect(1)
        .mount(&server)
        .await;

    let clock = Arc::new(FakeClock::default());
    let catalog = connect(&server, clock.clone(), CatalogAuth::None).await;
    catalog.load_table(&table()).await.unwrap();
    // A small Retry-After replaces the backoff.
    assert_eq!(clock.sleeps(), [Duration::from_secs(1)]);
}

#[tokio::test]
async fn large_retry_after_ends_retries_with_a_transient_error() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .expect(1)
        .mount(&server)
        .await;

    let clock = Arc::new(FakeClock::default());
    let catalog = connect(&server, clock.clone(), CatalogAuth::None).await;
    let err = catalog.load_table(&table()).await.unwrap_err();
    assert!(
        matches!(
            err,
            CatalogError::RateLimited {
                retry_after_seconds: 120,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(err.retry_after_seconds(), Some(120));
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn load_timeout_is_retried_then_reported() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .respond_with(load_result().set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;

    let clock = Arc::new(FakeClock::default());
    let catalog = RestCatalog::connect(
        http(Duration::from_millis(300)),
        clock.clone(),
        config(&server, CatalogAuth::None),
    )
    .await
    .unwrap();
    let err = catalog.load_table(&table()).await.unwrap_err();
    assert!(
        matches!(err, CatalogError::Timeout { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains(&server.uri()));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&requests, "GET", TABLE_PATH), 3);
}

fn set_properties() -> Vec<TableUpdate> {
    vec![TableUpdate::SetProperties {
        updates: HashMap::from([("k".to_string(), "v".to_string())]),
    }]
}

fn uuid_requirement() -> Vec<TableRequirement> {
    vec![TableRequirement::UuidMatch {
        uuid: "c4eb5561-777e-43a8-98a9-9a71f3784c2a".parse().unwrap(),
    }]
}

#[tokio::test]
async fn commit_sends_identifier_requirements_and_updates() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("POST"))
        .and(path(TABLE_PATH))
        .and(body_json(json!({
            "identifier": {"namespace": ["raw", "events"], "name": "clicks"},
            "requirements": [{"type": "assert-table-uuid", "uuid": "c4eb5561-777e-43a8-98a9-9a71f3784c2a"}],
            "updates": [{"action": "set-properties", "updates": {"k": "v"}}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "metadata-location": "s3://wh/raw.events/clicks/metadata/v2.metadata.json",
            "metadata": metadata()
        })))
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    let result = catalog
        .commit_table(&table(), uuid_requirement(), set_properties())
        .await
        .unwrap();
    assert_eq!(
        result.metadata_location,
        "s3://wh/raw.events/clicks/metadata/v2.metadata.json"
    );
}

#[tokio::test]
async fn commit_500_is_outcome_unknown_and_sent_once() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("POST"))
        .and(path(TABLE_PATH))
        .respond_with(rest_error(
            500,
            "CommitStateUnknownException",
            "lost the lock",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let clock = Arc::new(FakeClock::default());
    let catalog = connect(&server, clock.clone(), CatalogAuth::None).await;
    let err = catalog
        .commit_table(&table(), uuid_requirement(), set_properties())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CatalogError::CommitOutcomeUnknown { .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("raw.events.clicks"));
    assert!(err.to_string().contains("lost the lock"));
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn commit_timeout_is_outcome_unknown_and_sent_once() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("POST"))
        .and(path(TABLE_PATH))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&server)
        .await;

    let catalog = RestCatalog::connect(
        http(Duration::from_millis(300)),
        Arc::new(FakeClock::default()),
        config(&server, CatalogAuth::None),
    )
    .await
    .unwrap();
    let err = catalog
        .commit_table(&table(), uuid_requirement(), set_properties())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CatalogError::CommitOutcomeUnknown { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn commit_409_is_conflict() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("POST"))
        .and(path(TABLE_PATH))
        .respond_with(rest_error(
            409,
            "CommitFailedException",
            "Requirement failed: branch main has changed",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    let err = catalog
        .commit_table(&table(), uuid_requirement(), set_properties())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CatalogError::CommitConflict { .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("branch main has changed"));
}

/// R2 Data Catalog: two commits passed their checks at once, and this one lost after the
/// catalog's own two retries. The same race as a 409: reload and retry, never an error record.
#[tokio::test]
async fn commit_400_concurrent_update_error_is_a_lost_race() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("POST"))
        .and(path(TABLE_PATH))
        .respond_with(rest_error(
            400,
            "ConcurrentUpdateError",
            "Concurrent update to table, please retry",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    let err = catalog
        .commit_table(&table(), uuid_requirement(), set_properties())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CatalogError::CommitConflict { .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
}

/// Over `updateTable`'s 20 per table per minute: the commit was not applied, and the answer says
/// how long to wait and which limits exist.
#[tokio::test]
async fn commit_429_is_rate_limited_with_its_retry_after() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("POST"))
        .and(path(TABLE_PATH))
        .respond_with(
            rest_error(429, "TooManyRequestsException", "Rate limit exceeded")
                .insert_header("Retry-After", "60"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    let err = catalog
        .commit_table(&table(), uuid_requirement(), set_properties())
        .await
        .unwrap_err();
    assert_eq!(err.retry_after_seconds(), Some(60), "{err:?}");
    assert!(err.is_transient());
    let text = err.to_string();
    assert!(text.contains("20 commits per table"), "{text}");
    assert!(text.contains("COMMIT_INTERVAL_SECONDS"), "{text}");
}

#[tokio::test]
async fn commit_400_is_bad_request_with_server_message() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("POST"))
        .and(path(TABLE_PATH))
        .respond_with(rest_error(
            400,
            "BadRequestException",
            "unknown update action: nonsense",
        ))
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    let err = catalog
        .commit_table(&table(), uuid_requirement(), set_properties())
        .await
        .unwrap_err();
    match &err {
        CatalogError::BadRequest {
            status: 400,
            message,
            ..
        } => assert!(message.contains("unknown update action: nonsense")),
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
}

#[tokio::test]
async fn oauth_401_refreshes_token_once_and_retries_with_new_token() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    mount_token_sequence(&server, &["t1", "t2"], 3600).await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .and(header("authorization", "Bearer t1"))
        .respond_with(rest_error(
            401,
            "NotAuthorizedException",
            "Bearer token is invalid or expired",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .and(header("authorization", "Bearer t2"))
        .respond_with(load_result())
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), oauth()).await;
    catalog.load_table(&table()).await.unwrap();
}

#[tokio::test]
async fn token_is_refreshed_before_it_expires() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    mount_token_sequence(&server, &["t1", "t2"], 3600).await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .and(header("authorization", "Bearer t1"))
        .respond_with(load_result())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .and(header("authorization", "Bearer t2"))
        .respond_with(load_result())
        .expect(1)
        .mount(&server)
        .await;

    let clock = Arc::new(FakeClock::default());
    let catalog = connect(&server, clock.clone(), oauth()).await;
    // Well within the lifetime: the cached token is used.
    clock.advance(Duration::from_secs(1800));
    catalog.load_table(&table()).await.unwrap();
    // 50 s before expiry: inside the refresh margin, so a new token is fetched first.
    clock.advance(Duration::from_secs(1750));
    catalog.load_table(&table()).await.unwrap();
}

#[tokio::test]
async fn wrong_client_secret_is_unauthorized() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/oauth/tokens"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client", "error_description": "Invalid client credentials"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let err = RestCatalog::connect(
        http(Duration::from_secs(5)),
        Arc::new(FakeClock::default()),
        config(&server, oauth()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, CatalogError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let message = err.to_string();
    for needle in [
        server.uri().as_str(),
        WAREHOUSE,
        "ICEPIPE_CATALOG_CREDENTIAL",
        "Invalid client credentials",
    ] {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    assert!(!message.contains("very-secret"));
}

#[tokio::test]
async fn rejected_static_token_is_unauthorized_without_refresh() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/config"))
        .and(header("authorization", "Bearer r2-token"))
        .respond_with(rest_error(403, "ForbiddenException", "Access Denied."))
        .expect(1)
        .mount(&server)
        .await;

    let err = RestCatalog::connect(
        http(Duration::from_secs(5)),
        Arc::new(FakeClock::default()),
        config(&server, CatalogAuth::Token("r2-token".into())),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, CatalogError::Unauthorized { status: 403, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("ICEPIPE_CATALOG_TOKEN"));
}

#[tokio::test]
async fn connection_refused_is_unreachable_naming_the_uri() {
    // Bind then drop to find a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("http://127.0.0.1:{port}");
    let clock = Arc::new(FakeClock::default());
    let err = RestCatalog::connect(
        http(Duration::from_secs(5)),
        clock.clone(),
        CatalogConfig {
            uri: uri.clone(),
            warehouse: WAREHOUSE.into(),
            auth: CatalogAuth::None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CatalogError::Unreachable { .. }), "{err:?}");
    assert!(err.is_transient());
    let message = err.to_string();
    assert!(message.contains(&uri), "{message}");
    assert!(message.contains("ICEPIPE_CATALOG_URI"), "{message}");
    // Connect errors are retried like any transport failure of a read.
    assert_eq!(clock.sleeps().len(), 2);
}

/// Delegates to reqwest but refuses every POST as if nothing listened.
#[derive(Debug)]
struct RefusePosts(ReqwestHttpClient);

#[async_trait]
impl HttpClient for RefusePosts {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        if request.method == HttpMethod::Post {
            return Err(HttpError::Connect {
                url: request.url,
                reason: "connection refused".into(),
            });
        }
        self.0.send(request).await
    }
}

#[tokio::test]
async fn commit_connect_error_is_unreachable_not_unknown() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    let catalog = RestCatalog::connect(
        Arc::new(RefusePosts(ReqwestHttpClient::with_timeout(
            Duration::from_secs(5),
        ))),
        Arc::new(FakeClock::default()),
        config(&server, CatalogAuth::None),
    )
    .await
    .unwrap();
    let err = catalog
        .commit_table(&table(), uuid_requirement(), set_properties())
        .await
        .unwrap_err();
    assert!(matches!(err, CatalogError::Unreachable { .. }), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn multi_level_namespace_creates_missing_levels() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    for (ns_path, status) in [
        ("/v1/pfx/namespaces/a%1Fb%1Fc", 404),
        ("/v1/pfx/namespaces/a", 200),
        ("/v1/pfx/namespaces/a%1Fb", 404),
    ] {
        let response = if status == 200 {
            ResponseTemplate::new(200).set_body_json(json!({"namespace": ["a"], "properties": {}}))
        } else {
            rest_error(404, "NoSuchNamespaceException", "Namespace does not exist")
        };
        Mock::given(method("GET"))
            .and(path(ns_path))
            .respond_with(response)
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/v1/pfx/namespaces"))
        .and(body_json(
            json!({"namespace": ["a", "b"], "properties": {}}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"namespace": ["a", "b"], "properties": {}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // A concurrent creator got there first: still success.
    Mock::given(method("POST"))
        .and(path("/v1/pfx/namespaces"))
        .and(body_json(
            json!({"namespace": ["a", "b", "c"], "properties": {}}),
        ))
        .respond_with(rest_error(
            409,
            "AlreadyExistsException",
            "namespace a.b.c already exists",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    catalog
        .ensure_namespace(&NamespaceIdent::from_strs(["a", "b", "c"]).unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn existing_namespace_costs_one_request() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/pfx/namespaces/a%1Fb"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"namespace": ["a", "b"]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    catalog
        .ensure_namespace(&NamespaceIdent::from_strs(["a", "b"]).unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn list_namespaces_follows_page_tokens() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/pfx/namespaces"))
        .and(query_param("parent", "a"))
        .and(query_param("pageToken", "p2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"namespaces": [["a", "y"]], "next-page-token": null})),
        )
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/pfx/namespaces"))
        .and(query_param("parent", "a"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"namespaces": [["a", "x"]], "next-page-token": "p2"})),
        )
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    let parent = NamespaceIdent::new("a".into());
    let namespaces = catalog.list_namespaces(Some(&parent)).await.unwrap();
    assert_eq!(
        namespaces,
        [
            NamespaceIdent::from_strs(["a", "x"]).unwrap(),
            NamespaceIdent::from_strs(["a", "y"]).unwrap()
        ]
    );
}

#[tokio::test]
async fn list_tables_parses_identifiers() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/pfx/namespaces/raw%1Fevents/tables"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "identifiers": [{"namespace": ["raw", "events"], "name": "clicks"}]
        })))
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    let tables = catalog
        .list_tables(&NamespaceIdent::from_strs(["raw", "events"]).unwrap())
        .await
        .unwrap();
    assert_eq!(tables, [table()]);
}

fn create_request() -> CreateTable {
    let schema = Schema::builder()
        .with_fields(vec![NestedField::required(
            1,
            "id",
            Type::Primitive(PrimitiveType::Long),
        )
        .into()])
        .build()
        .unwrap();
    CreateTable::new(schema)
}

#[tokio::test]
async fn create_table_409_loads_the_existing_table() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/pfx/namespaces/raw%1Fevents/tables"))
        .and(body_string_contains("\"name\":\"clicks\""))
        .respond_with(rest_error(
            409,
            "AlreadyExistsException",
            "Table already exists",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .respond_with(load_result())
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    let loaded = catalog
        .create_table(&table(), create_request())
        .await
        .unwrap();
    assert_eq!(loaded.metadata.location(), "s3://wh/raw.events/clicks");
    // No location is sent: the catalog chooses it.
    let requests = server.received_requests().await.unwrap();
    let create = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&create.body).unwrap();
    assert!(body.get("location").is_none(), "{body}");
}

#[tokio::test]
async fn create_table_500_checks_for_the_table_before_creating_again() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/pfx/namespaces/raw%1Fevents/tables"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    // The create went through despite the 502.
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .respond_with(load_result())
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    catalog
        .create_table(&table(), create_request())
        .await
        .unwrap();
}

#[tokio::test]
async fn create_table_in_missing_namespace_says_so() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/pfx/namespaces/raw%1Fevents/tables"))
        .respond_with(rest_error(
            404,
            "NoSuchNamespaceException",
            "namespace raw.events not found",
        ))
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    let err = catalog
        .create_table(&table(), create_request())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CatalogError::NamespaceNotFound { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn load_404_is_table_not_found() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .respond_with(rest_error(
            404,
            "NoSuchTableException",
            "Table does not exist: clicks",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    let err = catalog.load_table(&table()).await.unwrap_err();
    assert!(matches!(err, CatalogError::TableNotFound { .. }), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn unknown_warehouse_at_config_is_warehouse_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/config"))
        .respond_with(rest_error(
            404,
            "NoSuchWarehouseException",
            "Warehouse s3://wh not found",
        ))
        .mount(&server)
        .await;

    let err = RestCatalog::connect(
        http(Duration::from_secs(5)),
        Arc::new(FakeClock::default()),
        config(&server, CatalogAuth::None),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, CatalogError::WarehouseNotFound { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("ICEPIPE_WAREHOUSE"));
}

#[tokio::test]
async fn unknown_warehouse_at_probe_is_warehouse_not_found() {
    // SeaweedFS: /v1/config accepts any warehouse; the first call under the prefix answers 404.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/config"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "defaults": {"warehouse": "s3://nope"}, "overrides": {"prefix": "nope"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/nope/namespaces"))
        .respond_with(rest_error(
            404,
            "NoSuchNamespaceException",
            "table bucket nope not found: each table bucket is a separate catalog",
        ))
        .mount(&server)
        .await;

    let err = RestCatalog::connect(
        http(Duration::from_secs(5)),
        Arc::new(FakeClock::default()),
        config(&server, CatalogAuth::None),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, CatalogError::WarehouseNotFound { status: 404, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("table bucket nope not found"));
}

#[tokio::test]
async fn unparseable_load_is_invalid_response() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("GET"))
        .and(path(TABLE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>proxy login</html>"))
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    let err = catalog.load_table(&table()).await.unwrap_err();
    assert!(
        matches!(err, CatalogError::InvalidResponse { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("proxy login"));
}

#[tokio::test]
async fn drop_table_sends_purge_flag() {
    let server = MockServer::start().await;
    mount_config(&server).await;
    Mock::given(method("DELETE"))
        .and(path(TABLE_PATH))
        .and(query_param("purgeRequested", "true"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;

    let catalog = connect(&server, Arc::default(), CatalogAuth::None).await;
    catalog.drop_table(&table(), true).await.unwrap();
}

#[test]
fn config_debug_hides_secrets() {
    let with_secret = CatalogConfig {
        uri: "http://127.0.0.1:8181".into(),
        warehouse: WAREHOUSE.into(),
        auth: oauth(),
    };
    let text = format!("{with_secret:?}");
    assert!(!text.contains("very-secret"), "{text}");
    assert!(
        text.contains("icepipe"),
        "client id is fine to show: {text}"
    );

    let with_token = CatalogConfig {
        auth: CatalogAuth::Token("r2-api-token-value".into()),
        ..with_secret
    };
    assert!(!format!("{with_token:?}").contains("r2-api-token-value"));
}

/// The futures must be `Send`: natively they are spawned on tokio, and the `iceberg` seams are `Send`.
#[allow(dead_code)]
fn catalog_futures_are_send(catalog: &RestCatalog, table: &TableIdent, ns: &NamespaceIdent) {
    fn assert_send<T: Send>(_: T) {}
    assert_send(catalog.ensure_namespace(ns));
    assert_send(catalog.list_namespaces(Some(ns)));
    assert_send(catalog.list_tables(ns));
    assert_send(catalog.load_table(table));
    assert_send(catalog.create_table(table, create_request()));
    assert_send(catalog.commit_table(table, vec![], vec![]));
    assert_send(catalog.drop_table(table, false));
}
