//! Every paginator against a wiremock API, plus empty pages and the same-host rule.
#![cfg(feature = "native")]

mod ingest_common;

use std::sync::Arc;
use std::time::Duration;

use ingest_common::{config, ints, serve, serve_page, Harness};
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn ok(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn ids_of(harness: &Harness, config_body: &str, server: &MockServer) -> Vec<Option<i64>> {
    let config = config(&server.uri(), config_body);
    harness.run_ok(&config).await;
    ints(&harness.read_table("items").await, "id")
}

#[tokio::test]
async fn json_link_follows_next_urls_in_the_body() {
    let server = MockServer::start().await;
    let next = format!("{}/items?after=2", server.uri());
    Mock::given(path("/items"))
        .and(query_param_is_missing("after"))
        .respond_with(ok(
            json!({"data": [{"id": 1}, {"id": 2}], "links": {"next": next}}),
        ))
        .mount(&server)
        .await;
    serve_page(
        &server,
        "after",
        "2",
        json!({"data": [{"id": 3}], "links": {"next": null}}),
    )
    .await;
    let body = "[sources.api_test.resources.items]\ndata_selector = \"data\"\npaginator = { type = \"json_link\", next_url_path = \"links.next\" }\n";
    assert_eq!(
        ids_of(&Harness::new(), body, &server).await,
        [Some(1), Some(2), Some(3)]
    );
}

#[tokio::test]
async fn header_link_follows_rel_next() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .and(query_param_is_missing("page"))
        .respond_with(ok(json!([{"id": 1}])).insert_header("link", "</items?page=2>; rel=\"next\""))
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(query_param("page", "2"))
        .respond_with(ok(json!([{"id": 2}])).insert_header("link", "</items?page=1>; rel=\"prev\""))
        .mount(&server)
        .await;
    let body = "[sources.api_test.resources.items]\npaginator = { type = \"header_link\" }\n";
    assert_eq!(
        ids_of(&Harness::new(), body, &server).await,
        [Some(1), Some(2)]
    );
}

#[tokio::test]
async fn offset_stops_at_the_total() {
    let server = MockServer::start().await;
    for (offset, ids) in [("0", vec![1, 2]), ("2", vec![3, 4]), ("4", vec![5])] {
        let records: Vec<_> = ids.iter().map(|id| json!({"id": id})).collect();
        Mock::given(path("/items"))
            .and(query_param("offset", offset))
            .and(query_param("limit", "2"))
            .respond_with(ok(json!({"items": records, "total": 5})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let body = "[sources.api_test.resources.items]\ndata_selector = \"items\"\npaginator = { type = \"offset\", limit = 2, total_path = \"total\" }\n";
    assert_eq!(
        ids_of(&Harness::new(), body, &server).await,
        [1, 2, 3, 4, 5].map(Some)
    );
}

#[tokio::test]
async fn page_number_stops_on_an_empty_page() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .and(query_param("_page", "1"))
        .and(query_param("_limit", "2"))
        .respond_with(ok(json!([{"id": 1}, {"id": 2}])))
        .mount(&server)
        .await;
    serve_page(&server, "_page", "2", json!([{"id": 3}])).await;
    Mock::given(path("/items"))
        .and(query_param("_page", "3"))
        .respond_with(ok(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let body = "paginator = { type = \"page_number\", page_param = \"_page\", limit_param = \"_limit\", limit = 2 }\n[sources.api_test.resources.items]\n";
    let harness = Harness::new();
    assert_eq!(ids_of(&harness, body, &server).await, [1, 2, 3].map(Some));
}

#[tokio::test]
async fn page_number_stops_at_total_pages() {
    let server = MockServer::start().await;
    serve_page(
        &server,
        "page",
        "0",
        json!({"rows": [{"id": 1}], "pages": 2}),
    )
    .await;
    serve_page(
        &server,
        "page",
        "1",
        json!({"rows": [{"id": 2}], "pages": 2}),
    )
    .await;
    let body = "[sources.api_test.resources.items]\ndata_selector = \"/rows\"\npaginator = { type = \"page_number\", base_page = 0, total_path = \"pages\" }\n";
    assert_eq!(
        ids_of(&Harness::new(), body, &server).await,
        [Some(1), Some(2)]
    );
    // Exactly two requests: no probe for an empty third page.
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn cursor_sends_the_body_cursor_as_a_param() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ok(
            json!({"results": [{"id": 1}], "meta": {"next_cursor": "abc"}}),
        ))
        .mount(&server)
        .await;
    serve_page(
        &server,
        "cursor",
        "abc",
        json!({"results": [{"id": 2}], "meta": {"next_cursor": null}}),
    )
    .await;
    let body = "[sources.api_test.resources.items]\ndata_selector = \"$.results\"\npaginator = { type = \"cursor\", cursor_path = \"meta.next_cursor\" }\n";
    assert_eq!(
        ids_of(&Harness::new(), body, &server).await,
        [Some(1), Some(2)]
    );
}

#[tokio::test]
async fn single_page_and_empty_pages_write_nothing_for_no_records() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(ok(json!({"data": []})))
        .expect(1)
        .mount(&server)
        .await;
    let config = config(&server.uri(), "[sources.api_test.resources.items]\n");
    let harness = Harness::new();
    let report = harness.run_ok(&config).await;
    assert_eq!(
        (report.resources[0].pages, report.resources[0].rows),
        (1, 0)
    );
    assert!(report.resources[0].files.is_empty());
    assert!(harness.store.keys().is_empty());
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/items",
        json!({"data": [{"id": 1}], "next": "https://evil.example.com/items?page=2"}),
    )
    .await;
    let config = config(
        &server.uri(),
        "auth = { type = \"bearer\", secret = \"TOKEN\" }\n[sources.api_test.resources.items]\ndata_selector = \"data\"\nincremental = { cursor_path = \"id\", param = \"since\", initial_value = 0 }\npaginator = { type = \"json_link\", next_url_path = \"next\" }\n",
    );
    let mut harness = Harness::new();
    harness.secrets.0.insert("TOKEN".into(), "t0ken".into());
    let report = harness.run(&config, None).await;
    let error = report.resources[0].error.clone().expect("refused");
    assert!(
        error.contains("refused next link https://evil.example.com/items?page=2"),
        "{error}"
    );
    assert!(!error.contains("t0ken"));
    // The first page is stored, but the cursor is not advanced.
    assert_eq!(report.resources[0].files.len(), 1);
    assert!(!harness
        .store
        .keys()
        .contains(&icepipe_core::raw::reserved::state_key("api_test", "items")));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

/// Records, for each request, how many Parquet parts the store held when it was sent.
#[derive(Debug)]
struct PartsAtRequest {
    inner: icepipe_core::http::ReqwestHttpClient,
    store: icepipe_core::storage::memory::MemoryStore,
    seen: std::sync::Mutex<Vec<(String, usize)>>,
}

#[async_trait::async_trait]
impl icepipe_core::http::HttpClient for PartsAtRequest {
    async fn send(
        &self,
        request: icepipe_core::http::HttpRequest,
    ) -> Result<icepipe_core::http::HttpResponse, icepipe_core::http::HttpError> {
        let parts = self
            .store
            .keys()
            .iter()
            .filter(|k| k.ends_with(".parquet"))
            .count();
        let page = url::Url::parse(&request.url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "_page")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        self.seen.lock().unwrap().push((page, parts));
        self.inner.send(request).await
    }
}

#[tokio::test]
async fn the_next_page_is_requested_before_this_page_is_written() {
    let server = MockServer::start().await;
    for page in 1..=3 {
        serve_page(&server, "_page", &page.to_string(), json!([{"id": page}])).await;
    }
    serve_page(&server, "_page", "4", json!([])).await;
    let body = "paginator = { type = \"page_number\", page_param = \"_page\", limit_param = \"_limit\", limit = 1 }\n[sources.api_test.resources.items]\n";
    let mut harness = Harness::new();
    harness.part_bytes = 1; // every page is written as a part of its own
    let http = Arc::new(PartsAtRequest {
        inner: icepipe_core::http::ReqwestHttpClient::with_timeout(Duration::from_secs(10)),
        store: harness.store.clone(),
        seen: Default::default(),
    });
    let mut ctx = harness.context();
    ctx.fetcher.http = http.clone();
    let cfg = config(&server.uri(), body);
    let report = icepipe_core::ingest::run_source(&ctx, cfg.source("api_test").unwrap(), None)
        .await
        .unwrap();
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.resources[0].rows, 3);
    // Page k+1 goes out while page k is still being written: k-1 parts exist, not k.
    let seen = http.seen.lock().unwrap().clone();
    let expected: Vec<(String, usize)> = [("1", 0), ("2", 0), ("3", 1), ("4", 2)]
        .iter()
        .map(|(p, n)| (p.to_string(), *n))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(
        harness
            .read_table("items")
            .await
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        3
    );
}
