//! Whole runs against wiremock APIs: incremental state across runs, schema drift across pages,
//! nesting modes, failures (bad JSON, 401, 429 with Retry-After), the raw layout and metadata.
#![cfg(feature = "native")]

mod ingest_common;

use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_schema::{DataType, TimeUnit};
use icepipe_core::ingest::{run_source, RunError, RunReport};
use icepipe_core::storage::ObjectStore;
use ingest_common::{config, ints, read_parquet, rows, serve, serve_page, strings, Harness};
use serde_json::json;
use wiremock::matchers::{header, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn ok(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

const INCREMENTAL: &str = "[sources.api_test.resources.items]\nprimary_key = \"id\"\nincremental = { cursor_path = \"updated_at\", initial_value = \"2024-01-01T00:00:00Z\", param = \"updated_at_gte\", lag = 60 }\n";

#[tokio::test]
async fn the_second_run_sends_the_stored_cursor_and_loads_only_new_records() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .and(query_param("updated_at_gte", "2024-01-01T00:00:00Z"))
        .respond_with(ok(json!([
            {"id": 1, "updated_at": "2024-02-01T10:00:00Z"},
            {"id": 2, "updated_at": "2024-02-03T10:00:00Z"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    // Second run: the max seen cursor minus the 60 s lag.
    Mock::given(path("/items"))
        .and(query_param("updated_at_gte", "2024-02-03T09:59:00Z"))
        .respond_with(ok(json!([{"id": 3, "updated_at": "2024-02-04T00:00:00Z"}])))
        .expect(1)
        .mount(&server)
        .await;
    let config = config(&server.uri(), INCREMENTAL);
    let harness = Harness::new();

    let first = harness.run_ok(&config).await;
    assert_eq!(
        first.resources[0].cursor,
        Some(json!("2024-02-03T10:00:00Z"))
    );
    let state: serde_json::Value = serde_json::from_slice(
        &harness
            .store
            .get("_state/api_test/items.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(state["cursor"], json!("2024-02-03T10:00:00Z"));
    assert_eq!(state["last_load_id"], json!(first.load_id));

    let second = harness.run_ok(&config).await;
    assert_eq!(second.resources[0].rows, 1);
    assert_eq!(
        second.resources[0].cursor,
        Some(json!("2024-02-04T00:00:00Z"))
    );
    let (batches, _) = read_parquet(&harness.store, &second.resources[0].files[0]).await;
    assert_eq!(ints(&batches, "id"), [Some(3)]);
}

#[tokio::test]
async fn overlapping_runs_cannot_both_advance_the_cursor() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/items",
        json!([{"id": 1, "updated_at": "2024-02-01T10:00:00Z"}]),
    )
    .await;
    let config = config(&server.uri(), INCREMENTAL);
    let harness = Harness::new();
    // Both runs read "no state" before either stores: join them.
    let (a, b) = tokio::join!(harness.run(&config, None), harness.run(&config, None));
    let errors: Vec<String> = [a, b]
        .iter()
        .filter_map(|r| r.resources[0].error.clone())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("changed since this run started"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn drift_across_pages_widens_int_to_double_to_string_without_losing_values() {
    let server = MockServer::start().await;
    let pages = [
        json!([{"id": 1, "v": 1, "seen": "2024-01-01T00:00:00Z"}]),
        json!([{"id": 2, "v": 2.5, "extra": true}]),
        json!([{"id": 3, "v": "n/a", "seen": "yesterday"}]),
        json!([]),
    ];
    for (i, page) in pages.into_iter().enumerate() {
        Mock::given(path("/items"))
            .and(query_param("page", (i + 1).to_string()))
            .respond_with(ok(page))
            .mount(&server)
            .await;
    }
    let config = config(
        &server.uri(),
        "[sources.api_test.resources.items]\npaginator = { type = \"page_number\" }\n",
    );
    let harness = Harness::new();
    let report = harness.run_ok(&config).await;
    assert_eq!(
        (report.resources[0].pages, report.resources[0].rows),
        (4, 3)
    );
    let batches = harness.read_table("items").await;
    assert_eq!(rows(&batches), 3);
    let schema = batches[0].schema();
    assert_eq!(
        schema.field_with_name("v").unwrap().data_type(),
        &DataType::Utf8
    );
    assert_eq!(
        strings(&batches, "v"),
        [Some("1".into()), Some("2.5".into()), Some("n/a".into())]
    );
    assert_eq!(
        strings(&batches, "seen"),
        [
            Some("2024-01-01T00:00:00Z".into()),
            None,
            Some("yesterday".into())
        ]
    );
    assert_eq!(
        schema.field_with_name("extra").unwrap().data_type(),
        &DataType::Boolean
    );
    assert_eq!(
        schema.field_with_name("_loaded_at").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
}

#[tokio::test]
async fn int_then_double_becomes_float64() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .and(query_param_is_missing("page"))
        .respond_with(ok(json!([{"v": 1}, {"v": 2.5}])))
        .mount(&server)
        .await;
    let config = config(&server.uri(), "[sources.api_test.resources.items]\n");
    let harness = Harness::new();
    assert!(harness.run(&config, None).await.is_success());
    let batches = harness.read_table("items").await;
    let v = batches[0].column_by_name("v").unwrap();
    assert_eq!(v.data_type(), &DataType::Float64);
    let values: Vec<Option<f64>> = v
        .as_primitive::<arrow_array::types::Float64Type>()
        .iter()
        .collect();
    assert_eq!(values, [Some(1.0), Some(2.5)]);
}

const NESTED_RECORD: &str = r#"[{"id": 1, "userId": 7, "address": {"geo": {"lat": "-37.3"}}, "tags": ["a", "b"],
  "orders": [{"sku": "x", "lines": [{"qty": 1}, {"qty": 2}]}, {"sku": "y", "lines": []}]}]"#;

/// Loads NESTED_RECORD as resource `items` with one extra resource setting.
async fn load_nested_record(setting: &str) -> (Harness, RunReport) {
    let server = MockServer::start().await;
    serve(
        &server,
        "/items",
        serde_json::from_str(NESTED_RECORD).unwrap(),
    )
    .await;
    let config = config(
        &server.uri(),
        &format!("[sources.api_test.resources.items]\n{setting}\n"),
    );
    let harness = Harness::new();
    let report = harness.run_ok(&config).await;
    (harness, report)
}

#[tokio::test]
async fn child_tables_link_rows_with_parent_row_id_and_list_idx() {
    let (harness, report) = load_nested_record("primary_key = \"id\"").await;
    let resource = &report.resources[0];
    // Records received = rows landed, child tables included: 1 record, 2 orders, 2 lines.
    assert_eq!((resource.received, resource.rows), (1, 1));
    let tables: Vec<(&str, u64)> = resource
        .tables
        .iter()
        .map(|(t, n)| (t.as_str(), *n))
        .collect();
    assert_eq!(
        tables,
        [
            ("items", 1),
            ("items__orders", 2),
            ("items__orders__lines", 2)
        ]
    );

    let root = harness.read_table("items").await;
    let names: Vec<String> = root[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "_load_id",
            "_loaded_at",
            "_row_id",
            "address__geo__lat",
            "id",
            "tags",
            "user_id"
        ]
    );
    assert!(matches!(
        root[0]
            .schema()
            .field_with_name("tags")
            .unwrap()
            .data_type(),
        DataType::List(_)
    ));
    let root_id = strings(&root, "_row_id")[0].clone();

    let orders = harness.read_table("items__orders").await;
    assert_eq!(
        strings(&orders, "sku"),
        [Some("x".into()), Some("y".into())]
    );
    assert_eq!(
        strings(&orders, "_parent_row_id"),
        [root_id.clone(), root_id]
    );
    assert_eq!(ints(&orders, "_list_idx"), [Some(0), Some(1)]);

    let lines = harness.read_table("items__orders__lines").await;
    assert_eq!(ints(&lines, "qty"), [Some(1), Some(2)]);
    assert_eq!(
        strings(&lines, "_parent_row_id"),
        vec![strings(&orders, "_row_id")[0].clone(); 2]
    );
    assert_eq!(ints(&lines, "_list_idx"), [Some(0), Some(1)]);
    // Child tables land under their own name in the raw layout.
    assert!(
        report.resources[0]
            .files
            .iter()
            .any(|k| k
                .starts_with("sources/api_test/items__orders__lines/year=2024/month=06/day=01/"))
    );
}

#[tokio::test]
async fn nested_mode_keeps_arrays_of_objects_as_list_of_struct() {
    let (harness, report) = load_nested_record("nesting = \"nested\"").await;
    assert_eq!(report.resources[0].files.len(), 1);
    let batches = harness.read_table("items").await;
    let orders = batches[0]
        .schema()
        .field_with_name("orders")
        .unwrap()
        .data_type()
        .clone();
    let DataType::List(item) = orders else {
        panic!("{orders:?}")
    };
    let DataType::Struct(fields) = item.data_type() else {
        panic!("{item:?}")
    };
    let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["lines", "sku"]);
    let orders = batches[0]
        .column_by_name("orders")
        .unwrap()
        .as_list::<i32>();
    assert_eq!(orders.value(0).len(), 2);
}

#[tokio::test]
async fn bad_json_ends_the_resource_with_the_url_and_a_snippet_and_others_go_on() {
    let server = MockServer::start().await;
    Mock::given(path("/broken"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops</html>"))
        .mount(&server)
        .await;
    serve(&server, "/fine", json!([{"id": 1}])).await;
    let config = config(
        &server.uri(),
        "[sources.api_test.resources.broken]\n[sources.api_test.resources.fine]\n",
    );
    let harness = Harness::new();
    let report = harness.run(&config, None).await;
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(
        report.errors[0].starts_with("broken: GET http://"),
        "{}",
        report.errors[0]
    );
    assert!(
        report.errors[0].contains("not JSON") && report.errors[0].contains("<html>oops</html>"),
        "{}",
        report.errors[0]
    );
    assert_eq!(report.resources[1].rows, 1);
    assert!(report.resources[1].error.is_none());
}

#[tokio::test]
async fn unauthorized_fails_the_resource_without_a_state_change() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer right"))
        .respond_with(ok(json!([{"id": 1, "updated_at": "2024-02-01T00:00:00Z"}])))
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(401).set_body_string("bad token"))
        .mount(&server)
        .await;
    let body = format!("auth = {{ type = \"bearer\", secret = \"TOKEN\" }}\n{INCREMENTAL}");
    let config = config(&server.uri(), &body);
    let mut harness = Harness::new();
    harness.secrets.0.insert("TOKEN".into(), "right".into());
    assert!(harness.run(&config, None).await.is_success());
    let state_before = harness
        .store
        .get("_state/api_test/items.json")
        .await
        .unwrap();

    harness.secrets.0.insert("TOKEN".into(), "wrong".into());
    let report = harness.run(&config, None).await;
    let error = report.resources[0].error.clone().unwrap();
    assert!(
        error.contains("HTTP 401")
            && error.contains("bad token")
            && error.contains("after 1 attempt"),
        "{error}"
    );
    assert!(!error.contains("wrong"));
    assert_eq!(
        harness
            .store
            .get("_state/api_test/items.json")
            .await
            .unwrap(),
        state_before
    );
    // No retries for a 4xx other than 429.
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn too_many_requests_is_retried_after_the_servers_delay() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "7"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    serve(&server, "/items", json!([{"id": 1}])).await;
    let config = config(&server.uri(), "[sources.api_test.resources.items]\n");
    let harness = Harness::new();
    let report = harness.run_ok(&config).await;
    // 7 s as asked, then the exponential backoff's second step (no Retry-After on the 503).
    assert_eq!(
        harness.clock.sleeps(),
        [Duration::from_secs(7), Duration::from_secs(1)]
    );
    assert_eq!(report.resources[0].rows, 1);
}

#[tokio::test]
async fn files_follow_the_raw_layout_roll_at_the_part_size_and_carry_metadata() {
    let server = MockServer::start().await;
    // Full pages until an empty one (no total in the body). Pages differ: a page repeating the
    // previous one would stop the paging (see ingest_hostile_apis.rs).
    for offset in [0, 50, 100] {
        let page: Vec<_> = (offset..offset + 50)
            .filter(|_| offset < 100)
            .map(|i| json!({"id": i, "text": "x".repeat(100)}))
            .collect();
        serve_page(&server, "offset", &offset.to_string(), json!(page)).await;
    }
    let config = config(&server.uri(), "[sources.api_test.resources.items]\nwrite_disposition = \"replace\"\npaginator = { type = \"offset\", limit = 50 }\n");
    let mut harness = Harness::new();
    harness.part_bytes = 1000; // every page is over: one part per page
    let report = harness.run_ok(&config).await;
    let files = &report.resources[0].files;
    let load_id = &report.load_id;
    assert_eq!(
        files,
        &[1, 2].map(|p| format!(
            "sources/api_test/items/year=2024/month=06/day=01/{load_id}-{p:04}.parquet"
        ))
    );
    for key in files {
        icepipe_core::raw::key::RawKey::parse(key).unwrap();
        let (batches, metadata) = read_parquet(&harness.store, key).await;
        assert_eq!(rows(&batches), 50);
        assert_eq!(metadata["icepipe.write_disposition"], "replace");
        assert_eq!(metadata["icepipe.load_id"], *load_id);
        assert_eq!(metadata["icepipe.source"], "api_test");
        assert_eq!(metadata["icepipe.resource"], "items");
    }
    let bytes = harness.store.get(&files[0]).await.unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(bytes).unwrap();
    use parquet::file::reader::FileReader;
    assert!(matches!(
        reader.metadata().row_group(0).column(0).compression(),
        parquet::basic::Compression::ZSTD(_)
    ));
}

#[tokio::test]
async fn every_auth_kind_reaches_the_api_and_default_headers_are_sent() {
    let server = MockServer::start().await;
    let record = json!([{"id": 1}]);
    Mock::given(path("/bearer"))
        .and(header("authorization", "Bearer tok"))
        .and(header("accept", "application/json"))
        .respond_with(ok(record.clone()))
        .mount(&server)
        .await;
    Mock::given(path("/query"))
        .and(query_param("api_key", "tok"))
        .respond_with(ok(record.clone()))
        .mount(&server)
        .await;
    Mock::given(path("/header"))
        .and(header("x-api-key", "tok"))
        .respond_with(ok(record.clone()))
        .mount(&server)
        .await;
    // "me:tok" in base64.
    Mock::given(path("/basic"))
        .and(header("authorization", "Basic bWU6dG9r"))
        .respond_with(ok(record))
        .mount(&server)
        .await;
    let mut harness = Harness::new();
    harness.secrets.0.insert("TOKEN".into(), "tok".into());
    for (route, auth) in [
        ("bearer", r#"{ type = "bearer", secret = "TOKEN" }"#),
        (
            "query",
            r#"{ type = "api_key", name = "api_key", location = "query", secret = "TOKEN" }"#,
        ),
        (
            "header",
            r#"{ type = "api_key", name = "X-Api-Key", secret = "TOKEN" }"#,
        ),
        (
            "basic",
            r#"{ type = "basic", username = "me", secret = "TOKEN" }"#,
        ),
    ] {
        let body = format!(
            "headers = {{ Accept = \"application/json\" }}\nauth = {auth}\n[sources.api_test.resources.items]\npath = \"/{route}\"\n"
        );
        let report = harness.run_ok(&config(&server.uri(), &body)).await;
        assert_eq!(report.resources[0].rows, 1, "{route}");
    }
}

#[tokio::test]
async fn a_push_only_resource_is_never_requested_and_cannot_be_run_by_name() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ok(json!([{"id": 1}])))
        .expect(1)
        .mount(&server)
        .await;
    // Any request for the push-only resource fails the test when the server is dropped.
    Mock::given(path("/todos"))
        .respond_with(ok(json!([])))
        .expect(0)
        .mount(&server)
        .await;
    let config = config(
        &server.uri(),
        "[sources.api_test.resources.items]\npath = \"/items\"\n[sources.api_test.resources.todos]\npush_only = true\nprimary_key = \"id\"\nwrite_disposition = \"merge\"\nnesting = \"nested\"\n",
    );
    let h = Harness::new();
    let report = h.run(&config, None).await;
    let names: Vec<&str> = report
        .resources
        .iter()
        .map(|r| r.resource.as_str())
        .collect();
    assert_eq!(names, ["items"]);
    let error = run_source(
        &h.context(),
        config.source("api_test").unwrap(),
        Some("todos"),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, RunError::PushOnly { .. }), "{error}");
    assert_eq!(error.status(), 400);
    assert!(
        error
            .to_string()
            .contains("push its events to POST /events/api_test/todos"),
        "{error}"
    );
}
